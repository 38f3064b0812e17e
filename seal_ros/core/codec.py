"""sensor_msgs/PointCloud2 <-> numpy, for any message object that looks like a PointCloud2.

The codec is duck-typed: :func:`decode` and :func:`read_points` accept anything with ``height``,
``width``, ``fields`` (each with ``name``, ``offset``, ``datatype``, ``count``), ``is_bigendian``,
``point_step``, ``row_step``, ``data`` and ``is_dense`` (rosbags dataclasses, rclpy messages,
cyclonedds dataclasses, :class:`CloudData`). ``data`` may be a numpy uint8 array, ``bytes``,
``bytearray``, ``memoryview``, ``array.array`` or a list of ints; all but the list are decoded
without a copy.

:func:`encode` goes the other way and returns a middleware-free :class:`CloudData`, which each
adapter turns into its own message type (:meth:`CloudData.to_message` does it for classes built
with keyword arguments, such as rosbags' dataclasses). The node's own output layouts are in
:mod:`seal_ros.core.output_clouds`.

NaN/inf handling belongs to callers; :func:`finite_mask` gives the mask.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from seal_ros.errors import CodecError, CodecReason


class PointFieldType(enum.IntEnum):
    """``sensor_msgs/PointField`` datatype constants."""

    INT8 = 1
    UINT8 = 2
    INT16 = 3
    UINT16 = 4
    INT32 = 5
    UINT32 = 6
    FLOAT32 = 7
    FLOAT64 = 8


DATATYPE_DTYPES: dict[int, np.dtype] = {
    PointFieldType.INT8: np.dtype(np.int8),
    PointFieldType.UINT8: np.dtype(np.uint8),
    PointFieldType.INT16: np.dtype(np.int16),
    PointFieldType.UINT16: np.dtype(np.uint16),
    PointFieldType.INT32: np.dtype(np.int32),
    PointFieldType.UINT32: np.dtype(np.uint32),
    PointFieldType.FLOAT32: np.dtype(np.float32),
    PointFieldType.FLOAT64: np.dtype(np.float64),
}
"""PointField datatype -> native-order numpy dtype."""

_DTYPE_DATATYPES: dict[str, int] = {dt.str[1:]: int(code) for code, dt in DATATYPE_DTYPES.items()}

XYZ = ("x", "y", "z")

MAX_FIELDS = 1024
"""Most fields a cloud may declare: real sensors send tens; the limit bounds the layout check and
the structured dtype of a hostile message (a :class:`CodecReason.TOO_MANY_FIELDS` error)."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One ``sensor_msgs/PointField``: ``count`` values of ``datatype`` at byte ``offset``."""

    name: str
    offset: int
    datatype: int
    count: int = 1

    @property
    def dtype(self) -> np.dtype:
        """Native-order numpy dtype of one value."""
        return DATATYPE_DTYPES[self.datatype]


@dataclass(frozen=True, eq=False)
class CloudData:
    """A PointCloud2 without its middleware: what an adapter needs to build its message.

    Attributes:
        fields: the point layout.
        height, width: cloud shape (``height == 1`` for unorganised clouds).
        point_step: bytes per point (may exceed the fields' extent: padding).
        row_step: bytes per row (``width * point_step`` for clouds made by :func:`encode`).
        is_bigendian: byte order of ``data``.
        is_dense: True when no point has a non-finite float value.
        data: (height * row_step,) uint8, C-contiguous.
        stamp_ns: header stamp in nanoseconds.
        frame_id: header frame id.
    """

    fields: list[FieldSpec]
    height: int
    width: int
    point_step: int
    row_step: int
    is_bigendian: bool
    is_dense: bool
    data: np.ndarray
    stamp_ns: int = 0
    frame_id: str = ""

    def __len__(self) -> int:
        return self.height * self.width

    def to_message(self, msg_cls: Any, field_cls: Any, header: Any) -> Any:
        """Build ``msg_cls(header=..., fields=[field_cls(...)], ..., data=self.data)``.

        Works for any message class constructed with keyword arguments (rosbags dataclasses,
        cyclonedds IDL classes, rclpy messages); adapters needing another ``data`` type convert it.
        """
        fields = [field_cls(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
                  for f in self.fields]
        return msg_cls(header=header, height=self.height, width=self.width, fields=fields,
                       is_bigendian=self.is_bigendian, point_step=self.point_step,
                       row_step=self.row_step, data=self.data, is_dense=self.is_dense)


# ------------------------------------------------------------------------------------ layout --

def fields_of(msg: Any) -> list[FieldSpec]:
    """The fields of a message as :class:`FieldSpec` (objects with name/offset/datatype/count)."""
    return [FieldSpec(str(f.name), int(f.offset), int(f.datatype), int(getattr(f, "count", 1)))
            for f in msg.fields]


def cloud_dtype(fields: Iterable[Any], point_step: int, is_bigendian: bool = False) -> np.dtype:
    """Structured dtype of one point: one entry per field at its offset, ``itemsize=point_step``.

    Fields with ``count > 1`` become subarray entries of shape ``(count,)``; bytes not covered by
    any field are padding. ``count == 0`` fields (allowed by the message) are left out. The cost
    is linear in the number of fields, which is bounded by :data:`MAX_FIELDS`.

    Raises:
        CodecError: ``point_step`` <= 0, more than :data:`MAX_FIELDS` fields, an unknown
            datatype, a duplicate or empty name, a field extending past ``point_step``, or two
            fields sharing bytes.
    """
    point_step = int(point_step)
    if point_step <= 0:
        raise CodecError(CodecReason.POINT_STEP,
                         f"point_step is {point_step}; expected the positive size of one point")
    declared = len(fields) if isinstance(fields, Sized) else None
    if declared is not None and declared > MAX_FIELDS:  # before looking at any of them
        raise CodecError(CodecReason.TOO_MANY_FIELDS,
                         f"cloud declares {declared} fields; at most {MAX_FIELDS} are accepted")
    order: Literal["<", ">"] = ">" if is_bigendian else "<"
    names: list[str] = []
    seen: set[str] = set()
    formats: list[Any] = []
    offsets: list[int] = []
    ends: list[int] = []
    for f in fields:
        if len(seen) >= MAX_FIELDS:
            raise CodecError(CodecReason.TOO_MANY_FIELDS,
                             f"cloud has more than {MAX_FIELDS} fields; at most {MAX_FIELDS} are "
                             f"accepted")
        name, offset = str(f.name), int(f.offset)
        datatype, count = int(f.datatype), int(getattr(f, "count", 1))
        if not name:
            raise CodecError(CodecReason.BAD_LAYOUT,
                             f"a field at offset {offset} has an empty name")
        if name in seen:
            raise CodecError(CodecReason.BAD_LAYOUT,
                             f"field {name!r} appears twice; field names must be unique")
        seen.add(name)
        if datatype not in DATATYPE_DTYPES:
            raise CodecError(CodecReason.BAD_LAYOUT,
                             f"field {name!r} has unknown datatype {datatype}; expected 1..8 "
                             f"(INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64)")
        if count < 0 or offset < 0:
            raise CodecError(CodecReason.BAD_LAYOUT,
                             f"field {name!r} has offset {offset} and count {count}; expected "
                             f"non-negative values")
        if count == 0:
            continue
        base = DATATYPE_DTYPES[datatype].newbyteorder(order)
        end = offset + base.itemsize * count
        if end > point_step:
            raise CodecError(CodecReason.POINT_STEP,
                             f"field {name!r} ({PointFieldType(datatype).name} x {count} at offset "
                             f"{offset}) ends at byte {end}, past point_step {point_step}")
        names.append(name)
        formats.append(base if count == 1 else (base, (count,)))
        offsets.append(offset)
        ends.append(end)
    _check_disjoint(names, offsets, ends)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": point_step})


def _check_disjoint(names: Sequence[str], offsets: Sequence[int], ends: Sequence[int]) -> None:
    """Raise a layout error naming two fields that share bytes (sorted by offset: linear)."""
    if len(offsets) < 2:
        return
    order = np.argsort(np.asarray(offsets), kind="stable")
    start = np.asarray(offsets)[order]
    stop = np.asarray(ends)[order]
    # a field overlaps when it starts before the furthest end of the fields before it
    reach = np.maximum.accumulate(stop)[:-1]
    clash = np.flatnonzero(start[1:] < reach)
    if clash.size:
        later = int(order[clash[0] + 1])
        earlier = int(order[: clash[0] + 1][np.argmax(stop[: clash[0] + 1])])
        raise CodecError(CodecReason.BAD_LAYOUT,
                         f"fields {names[earlier]!r} (bytes {offsets[earlier]}..{ends[earlier]}) "
                         f"and {names[later]!r} (bytes {offsets[later]}..{ends[later]}) overlap; "
                         f"expected each field in bytes of its own")


def _buffer(data: Any) -> np.ndarray:
    """``data`` as a 1-D uint8 array, without a copy for buffer-protocol objects."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            if data.dtype.itemsize != 1:
                raise CodecError(CodecReason.BAD_VALUES,
                                 f"data is a {data.dtype} array; expected uint8 bytes")
            data = data.view(np.uint8)
        return np.ascontiguousarray(data.reshape(-1))
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    try:
        view = memoryview(data)  # array.array and any other buffer
    except TypeError:
        raise CodecError(CodecReason.BAD_VALUES,
                         f"data is a {type(data).__name__}; expected bytes, a uint8 array or a "
                         f"buffer") from None
    return np.frombuffer(view.cast("B") if view.format != "B" else view, dtype=np.uint8)


def decode(msg: Any, require: Sequence[str] = ()) -> np.ndarray:
    """Structured ``(height * width,)`` array over the message's bytes (a view when possible).

    Field byte order is the message's (``>`` dtypes for big-endian clouds); use
    :func:`read_points` for native columns. Rows padded beyond ``width * point_step`` are copied.

    Raises:
        CodecError: a bad layout (see :func:`cloud_dtype`), ``row_step < width * point_step``, or a
            data length other than ``height * row_step``.
    """
    height, width = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    dtype = cloud_dtype(msg.fields, point_step, bool(msg.is_bigendian))
    if height < 0 or width < 0:
        raise CodecError(CodecReason.BAD_LAYOUT,
                         f"height {height} x width {width}: expected non-negative sizes")
    if row_step < width * point_step:
        raise CodecError(CodecReason.DATA_LENGTH,
                         f"row_step {row_step} < width {width} x point_step {point_step}; a row "
                         f"must hold its points")
    buf = _buffer(msg.data)
    if buf.size != height * row_step:
        raise CodecError(CodecReason.DATA_LENGTH,
                         f"data has {buf.size} bytes; expected height {height} x row_step "
                         f"{row_step} = {height * row_step} (width {width} x point_step "
                         f"{point_step} per row)")
    missing = [name for name in require if name not in (dtype.names or ())]
    if missing:
        raise CodecError(CodecReason.MISSING_FIELD,
                         f"cloud has no field {missing[0]!r} (required: {list(require)}); it has "
                         f"{list(dtype.names or ())}")
    n = height * width
    if n == 0:
        return np.zeros(0, dtype=dtype)
    if row_step == width * point_step:
        return np.frombuffer(buf, dtype=dtype, count=n)
    rows: np.ndarray = np.ndarray((height, width), dtype=dtype, buffer=buf,
                                  strides=(row_step, point_step))
    return rows.reshape(n)


def _columns(points: np.ndarray, names: Sequence[str]) -> list[np.ndarray]:
    available = points.dtype.names or ()
    missing = [name for name in names if name not in available]
    if missing:
        raise CodecError(CodecReason.MISSING_FIELD,
                         f"cloud has no field {missing[0]!r}; it has {list(available)}")
    columns = []
    for name in names:
        column = points[name]
        if column.ndim != 1:
            raise CodecError(CodecReason.BAD_LAYOUT,
                             f"field {name!r} has count {column.shape[1]}; read_points reads "
                             f"scalar fields only (use decode() for count > 1)")
        columns.append(column)
    return columns


def read_points(msg: Any, names: Sequence[str] = XYZ, dtype: Any = np.float32) -> np.ndarray:
    """(N, len(names)) array of the named scalar fields, native byte order, as ``dtype``.

    ``msg`` is a PointCloud2-like message or an array returned by :func:`decode`.

    Raises:
        CodecError: a bad layout, or a named field that the cloud lacks (message names it and lists
            the fields there are) or that has ``count > 1``.
    """
    points = msg if isinstance(msg, np.ndarray) else decode(msg)
    columns = _columns(points, names)
    out = np.empty((len(points), len(columns)), dtype=dtype)
    for i, column in enumerate(columns):
        out[:, i] = column
    return out


def read_field(msg: Any, name: str, dtype: Any = None) -> np.ndarray:
    """(N,) or (N, count) copy of one field, native byte order, in ``dtype`` (default: its own)."""
    points = msg if isinstance(msg, np.ndarray) else decode(msg)
    if name not in (points.dtype.names or ()):
        raise CodecError(CodecReason.MISSING_FIELD,
                         f"cloud has no field {name!r}; it has {list(points.dtype.names or ())}")
    column = points[name]
    target = np.dtype(dtype) if dtype is not None else column.dtype.base.newbyteorder("=")
    return column.astype(target)


def finite_mask(xyz: np.ndarray) -> np.ndarray:
    """(N,) bool: True where all coordinates of the (N, k) array are finite."""
    return np.isfinite(np.asarray(xyz)).all(axis=1)


# ----------------------------------------------------------------------------------- encode --

def _datatype_of(name: str, dtype: np.dtype) -> int:
    code = _DTYPE_DATATYPES.get(dtype.base.str[1:]) if dtype.base.kind != "b" else None
    if code is None:
        raise CodecError(CodecReason.BAD_VALUES,
                         f"field {name!r} is {dtype.base}; PointCloud2 carries int8/16/32, "
                         f"uint8/16/32, float32 or float64 (pass datatypes= to convert)")
    return code


def _structured_input(arrays: np.ndarray) -> tuple[np.ndarray, bool]:
    """A structured (N,) array as given, and whether it is big-endian (one order only)."""
    if arrays.dtype.names is None or arrays.ndim != 1:
        raise CodecError(CodecReason.BAD_VALUES,
                         f"encode takes a mapping of arrays or a 1-D structured array, got a "
                         f"{arrays.shape} {arrays.dtype} array")
    big = set()
    for name in arrays.dtype.names:
        base = arrays.dtype.fields[name][0].base
        if base.itemsize > 1:
            order = base.byteorder
            big.add(order == ">" or (order == "=" and sys.byteorder == "big"))
    if len(big) > 1:
        raise CodecError(CodecReason.BAD_VALUES,
                         f"structured array mixes byte orders: {arrays.dtype}")
    return arrays, big == {True}


def _pack_columns(arrays: Mapping[str, np.ndarray], datatypes: dict[str, int],
                  point_step: int | None, is_bigendian: bool) -> np.ndarray:
    """``{name: (N,) or (N, count)}`` packed in order without gaps into a structured array."""
    columns: dict[str, np.ndarray] = {}
    n_points = None
    for name, values in arrays.items():
        values = np.asarray(values)
        if values.ndim not in (1, 2):
            raise CodecError(CodecReason.BAD_VALUES,
                             f"field {name!r} has shape {values.shape}; expected (N,) or "
                             f"(N, count)")
        if n_points is None:
            n_points = len(values)
        elif len(values) != n_points:
            raise CodecError(CodecReason.BAD_VALUES,
                             f"field {name!r} has {len(values)} points; the first field has "
                             f"{n_points}")
        if name in datatypes:
            if int(datatypes[name]) not in DATATYPE_DTYPES:
                raise CodecError(CodecReason.BAD_LAYOUT,
                                 f"field {name!r}: unknown datatype {datatypes[name]}")
            values = values.astype(DATATYPE_DTYPES[int(datatypes[name])], copy=False)
        _datatype_of(name, values.dtype)
        columns[name] = values
    order: Literal["<", ">"] = ">" if is_bigendian else "<"
    names, formats, offsets, offset = [], [], [], 0
    for name, values in columns.items():
        base = values.dtype.newbyteorder(order)
        names.append(name)
        formats.append(base if values.ndim == 1 else (base, (values.shape[1],)))
        offsets.append(offset)
        offset += base.itemsize * (1 if values.ndim == 1 else values.shape[1])
    if point_step is not None and point_step < offset:
        raise CodecError(CodecReason.POINT_STEP,
                         f"point_step {point_step} < {offset} bytes of fields {names}")
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets,
                      "itemsize": max(point_step or offset, 1)})
    structured = np.zeros(n_points or 0, dtype=dtype)
    for name, values in columns.items():
        structured[name] = values
    return structured


def encode(arrays: Mapping[str, np.ndarray] | np.ndarray, *, stamp_ns: int = 0,
           frame_id: str = "", height: int = 1, datatypes: Mapping[str, int] | None = None,
           point_step: int | None = None, is_bigendian: bool = False,
           is_dense: bool | None = None) -> CloudData:
    """Pack per-point arrays (or a structured array) into a :class:`CloudData`.

    Args:
        arrays: ``{name: (N,) or (N, count) array}`` packed in this order without gaps, or a
            structured (N,) array whose layout (offsets, padding, byte order) is kept as is.
        stamp_ns, frame_id: the header to carry along.
        height: rows of an organised cloud (N must divide by it); 1 for an unorganised cloud.
        datatypes: PointField datatype per name, to convert (e.g. ``{"label": UINT16}``); default
            each array's own dtype (bool and 64-bit integers must be given here).
        point_step: bytes per point, >= the packed size (the rest is zero padding).
        is_bigendian: write big-endian data (mapping input only).
        is_dense: default True when every float value is finite.

    Raises:
        CodecError: unequal lengths, an unsupported dtype, ``point_step`` too small, or N not a
            multiple of ``height``.
    """
    if isinstance(arrays, np.ndarray):
        structured, is_bigendian = _structured_input(arrays)
    else:
        structured = _pack_columns(arrays, dict(datatypes or {}), point_step, is_bigendian)
    n = len(structured)
    height = int(height)
    if height <= 0 or n % height:
        raise CodecError(CodecReason.BAD_VALUES,
                         f"{n} points do not fill {height} rows; height must divide the count")
    width = n // height if n else 0
    if n == 0:
        height = 1 if height else 0
    fields = []
    for name in structured.dtype.names:
        base, offset = structured.dtype.fields[name][:2]
        count = int(np.prod(base.shape)) if base.shape else 1
        fields.append(FieldSpec(name, int(offset), _datatype_of(name, base), count))
    step = structured.dtype.itemsize
    if is_dense is None:
        is_dense = all(np.isfinite(structured[f.name]).all() for f in fields
                       if f.datatype in (PointFieldType.FLOAT32, PointFieldType.FLOAT64))
    data = np.ascontiguousarray(structured).view(np.uint8).reshape(-1)
    return CloudData(fields=fields, height=height, width=width, point_step=step,
                     row_step=width * step, is_bigendian=bool(is_bigendian),
                     is_dense=bool(is_dense), data=data, stamp_ns=int(stamp_ns),
                     frame_id=frame_id)


def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` (``sec`` + ``nanosec``, or ROS 1 ``secs``/``nsecs``) -> ns."""
    sec = getattr(stamp, "sec", None)
    if sec is None:
        sec = stamp.secs
    nsec: Any = getattr(stamp, "nanosec", None)
    if nsec is None:
        nsec = getattr(stamp, "nsecs", 0)
    return int(sec) * 1_000_000_000 + int(nsec)


__all__ = ["DATATYPE_DTYPES", "MAX_FIELDS", "XYZ", "CloudData", "FieldSpec", "PointFieldType",
           "cloud_dtype", "decode", "encode", "fields_of", "finite_mask", "read_field",
           "read_points", "stamp_to_ns"]
