"""ROS 2 messages as cyclonedds IDL structs, byte-identical on the wire to ``rmw_cyclonedds_cpp``.

Each class mirrors its ``.msg`` definition field for field (same order, same IDL types), is
``final`` (cyclonedds-python's default) and carries the DDS type name ROS 2 uses, e.g.
``sensor_msgs::msg::dds_::PointCloud2_``. Written with XCDR1 (the DDS transport's QoS forces it),
a sample's bytes equal ``rosbags``' ``Typestore.serialize_cdr`` of the same message, the
4-byte encapsulation header included.

**Fast byte sequences.** cyclonedds-python (de)serialises ``sequence<uint8>`` one element at a time
into a Python list (about 100 ms for a 2 MB cloud). For the byte fields listed in
:data:`BYTE_FIELDS` (``PointCloud2.data``, ``Image.data``, ``SegmentationInfo.palette``) the
declared type stays ``sequence<uint8>``, so the XTypes type object and the type name are what ROS
expects, but the serialisation machine is swapped for :class:`RawBytesMachine`: a 4-aligned
``uint32`` length followed by the raw bytes. That is exactly the XCDR1 (and XCDR2) encoding of a
``sequence<uint8>``, so peers cannot tell the difference. Writers accept ``bytes``, ``bytearray``,
``memoryview`` or a numpy array for these fields (no per-element work); readers get ``bytes``
(``np.frombuffer`` views them). :func:`set_fast_bytes` switches back to the stock machine (for the
benchmark only).

:func:`to_dds` and :func:`from_dds` convert between these classes and ``rosbags`` messages (of
:func:`seal_ros.interfaces.typestore`), so the codec and bag code serve both transports.
"""

# No ``from __future__ import annotations``: cyclonedds resolves the field annotations at run time
# and cannot resolve string annotations such as "t.uint32".

import typing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from cyclonedds.idl._machinery import (  # private, pinned by tests/seal_ros/adapters/test_dds.py
    BytesMachine,
    PlainCdrV2SequenceOfPrimitiveMachine,
    StructMachine,
)

from seal_ros.errors import CodecError

# ----------------------------------------------------------------------- fast byte sequences --


def _byte_view(value: Any) -> Any:
    """``value`` as a flat byte buffer without copying (bytes, bytearray, memoryview, ndarray)."""
    if isinstance(value, (bytes, bytearray)):
        return value
    if isinstance(value, np.ndarray):
        if not value.flags.c_contiguous:
            value = np.ascontiguousarray(value)
        return memoryview(value.reshape(-1).view(np.uint8))
    if isinstance(value, memoryview):
        return value.cast("B") if value.format != "B" or value.ndim != 1 else value
    if isinstance(value, (list, tuple)):
        return bytes(value)
    try:
        return memoryview(value).cast("B")
    except TypeError:
        raise CodecError(f"a byte sequence field got a {type(value).__name__}; expected bytes, "
                         f"bytearray, memoryview or a uint8 numpy array") from None


class RawBytesMachine(BytesMachine):
    """``sequence<uint8>`` as a ``uint32`` length and the raw bytes: its XCDR1/XCDR2 wire format."""

    def __init__(self) -> None:
        super().__init__(bound=None)

    def serialize(self, buffer: Any, value: Any, *args: Any, **kwargs: Any) -> None:
        view = _byte_view(value)
        buffer.align(4)
        buffer.write("I", 4, len(view) if not isinstance(view, memoryview) else view.nbytes)
        buffer.write_bytes(view)


BYTE_FIELDS: dict[str, tuple[str, ...]] = {}
"""``{DDS class name: byte-sequence fields served by RawBytesMachine}``, filled by :func:`_fast`."""

_MACHINES: dict[tuple[type, str], tuple[Any, Any]] = {}  # (class, field) -> (stock v1, stock v2)
_FAST = True


def _struct_machines(cls: type) -> tuple[StructMachine, StructMachine]:
    cls.__idl__.populate()
    v1, v2 = cls.__idl__.v1_machine, cls.__idl__.v2_machine
    if not isinstance(v1, StructMachine) or not isinstance(v2, StructMachine):
        raise TypeError(f"{cls.__name__}: expected final-struct machines, got {type(v1).__name__}"
                        f" / {type(v2).__name__} (cyclonedds version change?)")
    return v1, v2


def _fast(*names: str) -> Any:
    """Class decorator: serve the ``sequence<uint8>`` fields ``names`` with :class:`RawBytesMachine`."""
    def apply(cls: type) -> type:
        v1, v2 = _struct_machines(cls)
        for name in names:
            for machine in (v1, v2):
                stock = machine.members_machines[name]
                if not (isinstance(stock, PlainCdrV2SequenceOfPrimitiveMachine)
                        and stock.code == "B" and stock.max_length is None):
                    raise TypeError(f"{cls.__name__}.{name} is not an unbounded sequence<uint8>")
            _MACHINES[(cls, name)] = (v1.members_machines[name], v2.members_machines[name])
            v1.members_machines[name] = RawBytesMachine()
            v2.members_machines[name] = RawBytesMachine()
        BYTE_FIELDS[cls.__name__] = tuple(names)
        return cls
    return apply


def set_fast_bytes(enabled: bool) -> None:
    """Use the raw-bytes machine (default) or cyclonedds' element-wise one for byte sequences.

    Process-wide; only meant for measuring the difference. With the stock machine, writers need
    ``bytes`` (not numpy arrays) and readers get lists of ints.
    """
    global _FAST
    for (cls, name), (stock_v1, stock_v2) in _MACHINES.items():
        v1, v2 = _struct_machines(cls)
        v1.members_machines[name] = RawBytesMachine() if enabled else stock_v1
        v2.members_machines[name] = RawBytesMachine() if enabled else stock_v2
    _FAST = bool(enabled)


def fast_bytes_enabled() -> bool:
    """Whether byte sequences use :class:`RawBytesMachine`."""
    return _FAST


# ------------------------------------------------------------------------------------ types --
# Typenames use dots (cyclonedds turns them into "::"): "sensor_msgs.msg.dds_.PointCloud2_" is
# sent as "sensor_msgs::msg::dds_::PointCloud2_", the name rmw_cyclonedds_cpp registers.


@dataclass
class Time_(IdlStruct, typename="builtin_interfaces.msg.dds_.Time_"):
    """builtin_interfaces/msg/Time."""

    sec: t.int32 = 0
    nanosec: t.uint32 = 0


@dataclass
class Header_(IdlStruct, typename="std_msgs.msg.dds_.Header_"):
    """std_msgs/msg/Header."""

    stamp: Time_ = field(default_factory=Time_)
    frame_id: str = ""


@dataclass
class PointField_(IdlStruct, typename="sensor_msgs.msg.dds_.PointField_"):
    """sensor_msgs/msg/PointField (datatype constants: seal_ros.core.codec.PointFieldType)."""

    name: str = ""
    offset: t.uint32 = 0
    datatype: t.uint8 = 0
    count: t.uint32 = 0


@_fast("data")
@dataclass
class PointCloud2_(IdlStruct, typename="sensor_msgs.msg.dds_.PointCloud2_"):
    """sensor_msgs/msg/PointCloud2; ``data`` travels as raw bytes."""

    header: Header_ = field(default_factory=Header_)
    height: t.uint32 = 0
    width: t.uint32 = 0
    fields: t.sequence[PointField_] = field(default_factory=list)
    is_bigendian: bool = False
    point_step: t.uint32 = 0
    row_step: t.uint32 = 0
    data: t.sequence[t.uint8] = b""
    is_dense: bool = False


@_fast("data")
@dataclass
class Image_(IdlStruct, typename="sensor_msgs.msg.dds_.Image_"):
    """sensor_msgs/msg/Image; ``data`` travels as raw bytes."""

    header: Header_ = field(default_factory=Header_)
    height: t.uint32 = 0
    width: t.uint32 = 0
    encoding: str = ""
    is_bigendian: t.uint8 = 0
    step: t.uint32 = 0
    data: t.sequence[t.uint8] = b""


@dataclass
class RegionOfInterest_(IdlStruct, typename="sensor_msgs.msg.dds_.RegionOfInterest_"):
    """sensor_msgs/msg/RegionOfInterest."""

    x_offset: t.uint32 = 0
    y_offset: t.uint32 = 0
    height: t.uint32 = 0
    width: t.uint32 = 0
    do_rectify: bool = False


@dataclass
class CameraInfo_(IdlStruct, typename="sensor_msgs.msg.dds_.CameraInfo_"):
    """sensor_msgs/msg/CameraInfo."""

    header: Header_ = field(default_factory=Header_)
    height: t.uint32 = 0
    width: t.uint32 = 0
    distortion_model: str = ""
    d: t.sequence[t.float64] = field(default_factory=list)
    k: t.array[t.float64, 9] = field(default_factory=lambda: [0.0] * 9)
    r: t.array[t.float64, 9] = field(default_factory=lambda: [0.0] * 9)
    p: t.array[t.float64, 12] = field(default_factory=lambda: [0.0] * 12)
    binning_x: t.uint32 = 0
    binning_y: t.uint32 = 0
    roi: RegionOfInterest_ = field(default_factory=RegionOfInterest_)


@dataclass
class KeyValue_(IdlStruct, typename="diagnostic_msgs.msg.dds_.KeyValue_"):
    """diagnostic_msgs/msg/KeyValue."""

    key: str = ""
    value: str = ""


@dataclass
class DiagnosticStatus_(IdlStruct, typename="diagnostic_msgs.msg.dds_.DiagnosticStatus_"):
    """diagnostic_msgs/msg/DiagnosticStatus (level: OK 0, WARN 1, ERROR 2, STALE 3)."""

    level: t.byte = 0
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: t.sequence[KeyValue_] = field(default_factory=list)


@dataclass
class DiagnosticArray_(IdlStruct, typename="diagnostic_msgs.msg.dds_.DiagnosticArray_"):
    """diagnostic_msgs/msg/DiagnosticArray."""

    header: Header_ = field(default_factory=Header_)
    status: t.sequence[DiagnosticStatus_] = field(default_factory=list)


@dataclass
class Vector3_(IdlStruct, typename="geometry_msgs.msg.dds_.Vector3_"):
    """geometry_msgs/msg/Vector3."""

    x: t.float64 = 0.0
    y: t.float64 = 0.0
    z: t.float64 = 0.0


@dataclass
class Quaternion_(IdlStruct, typename="geometry_msgs.msg.dds_.Quaternion_"):
    """geometry_msgs/msg/Quaternion (ROS default: identity, w = 1)."""

    x: t.float64 = 0.0
    y: t.float64 = 0.0
    z: t.float64 = 0.0
    w: t.float64 = 1.0


@dataclass
class Transform_(IdlStruct, typename="geometry_msgs.msg.dds_.Transform_"):
    """geometry_msgs/msg/Transform."""

    translation: Vector3_ = field(default_factory=Vector3_)
    rotation: Quaternion_ = field(default_factory=Quaternion_)


@dataclass
class TransformStamped_(IdlStruct, typename="geometry_msgs.msg.dds_.TransformStamped_"):
    """geometry_msgs/msg/TransformStamped."""

    header: Header_ = field(default_factory=Header_)
    child_frame_id: str = ""
    transform: Transform_ = field(default_factory=Transform_)


@dataclass
class TFMessage_(IdlStruct, typename="tf2_msgs.msg.dds_.TFMessage_"):
    """tf2_msgs/msg/TFMessage (/tf and /tf_static)."""

    transforms: t.sequence[TransformStamped_] = field(default_factory=list)


@_fast("palette")
@dataclass
class SegmentationInfo_(IdlStruct, typename="seal_msgs.msg.dds_.SegmentationInfo_"):
    """seal_msgs/msg/SegmentationInfo (msg/msg/SegmentationInfo.msg); ``palette`` as raw bytes."""

    header: Header_ = field(default_factory=Header_)
    model_id: str = ""
    class_names: t.sequence[str] = field(default_factory=list)
    palette: t.sequence[t.uint8] = b""
    ignore_id: t.uint8 = 0


@dataclass
class SegmentationTiming_(IdlStruct, typename="seal_msgs.msg.dds_.SegmentationTiming_"):
    """seal_msgs/msg/SegmentationTiming (msg/msg/SegmentationTiming.msg)."""

    header: Header_ = field(default_factory=Header_)
    stage_names: t.sequence[str] = field(default_factory=list)
    stage_ms: t.sequence[t.float32] = field(default_factory=list)
    total_ms: t.float32 = 0.0
    num_points: t.uint32 = 0
    num_voxels: t.uint32 = 0
    dropped_messages: t.uint64 = 0


MESSAGE_TYPES: tuple[type[IdlStruct], ...] = (
    Time_, Header_, PointField_, PointCloud2_, Image_, RegionOfInterest_, CameraInfo_, KeyValue_,
    DiagnosticStatus_, DiagnosticArray_, Vector3_, Quaternion_, Transform_, TransformStamped_,
    TFMessage_, SegmentationInfo_, SegmentationTiming_)


def dds_typename(cls: type) -> str:
    """The DDS type name on the wire, e.g. ``sensor_msgs::msg::dds_::PointCloud2_``."""
    return str(cls.__idl_typename__).replace(".", "::")


def ros_typename(cls: type) -> str:
    """The ROS name of a DDS class, e.g. ``sensor_msgs/msg/PointCloud2``."""
    package, kind, _, name = dds_typename(cls).split("::")
    return f"{package}/{kind}/{name[:-1]}"


BY_ROS_NAME: dict[str, type[IdlStruct]] = {ros_typename(cls): cls for cls in MESSAGE_TYPES}
"""``{"sensor_msgs/msg/PointCloud2": PointCloud2_, ...}``."""


def dds_class(msg_type: "str | type[IdlStruct]") -> type[IdlStruct]:
    """The DDS class for a ROS type name (``sensor_msgs/msg/PointCloud2``) or a DDS class."""
    if isinstance(msg_type, type) and issubclass(msg_type, IdlStruct):
        return msg_type
    name = str(msg_type).replace("::", "/")
    if name.count("/") == 1:  # "sensor_msgs/PointCloud2"
        package, base = name.split("/")
        name = f"{package}/msg/{base}"
    try:
        return BY_ROS_NAME[name]
    except KeyError:
        raise CodecError(f"no DDS type for {msg_type!r}; known: {sorted(BY_ROS_NAME)}") from None


# ------------------------------------------------------------------------------- conversion --
# One plan per class: (field, kind, detail) with kind in
#   "scalar" (detail: python type), "struct" (class), "structs" (class), "bytes",
#   "numbers" (numpy dtype), "strings".

_NUMPY = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
          "uint8": np.uint8, "byte": np.uint8, "uint16": np.uint16, "uint32": np.uint32,
          "uint64": np.uint64, "float32": np.float32, "float64": np.float64}
_PLANS: dict[type, list[tuple[str, str, Any]]] = {}


def _element(hint: Any) -> tuple[str, Any]:
    """Classify an element type: ('struct', cls) | ('string', str) | ('number', dtype) | ..."""
    if isinstance(hint, type) and issubclass(hint, IdlStruct):
        return "struct", hint
    if hint is str:
        return "string", str
    if hint is bool:
        return "number", np.bool_
    if hint is float:
        return "number", np.float64
    if hint is int:
        return "number", np.int64
    if typing.get_origin(hint) is typing.Annotated:
        base, *meta = typing.get_args(hint)
        if meta and isinstance(meta[0], str) and meta[0] in _NUMPY:
            return "number", _NUMPY[meta[0]]
    raise TypeError(f"unsupported IDL element type {hint!r}")


def _plan(cls: type) -> list[tuple[str, str, Any]]:
    plan = _PLANS.get(cls)
    if plan is not None:
        return plan
    plan = []
    byte_fields = BYTE_FIELDS.get(cls.__name__, ())
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        if name.startswith("__") or name == "sample_info":
            continue
        meta = typing.get_args(hint)[1:] if typing.get_origin(hint) is typing.Annotated else ()
        collection = next((m for m in meta if isinstance(m, (t.sequence, t.array))), None)
        if name in byte_fields:
            plan.append((name, "bytes", None))
        elif collection is not None:
            kind, detail = _element(collection.subtype)
            plan.append((name, {"struct": "structs", "string": "strings",
                                "number": "numbers"}[kind], detail))
        else:
            kind, detail = _element(hint)
            if kind == "struct":
                plan.append((name, "struct", detail))
            else:
                py = {np.bool_: bool, np.float32: float, np.float64: float}.get(detail, int)
                plan.append((name, "scalar", str if kind == "string" else py))
    _PLANS[cls] = plan
    return plan


def to_dds(msg: Any, cls: "type[IdlStruct] | str | None" = None) -> Any:
    """Convert a message object (rosbags dataclass, rclpy message, ...) to its DDS class.

    Args:
        msg: any object with the message's fields as attributes. A DDS instance of ``cls`` is
            returned unchanged.
        cls: the DDS class or ROS type name; default ``msg.__msgtype__`` (rosbags messages).

    Byte fields are passed through without a copy when they are buffers (numpy arrays, bytes).
    """
    if cls is None:
        msgtype = getattr(msg, "__msgtype__", None)
        if msgtype is None:
            raise CodecError(f"cannot tell the ROS type of a {type(msg).__name__}; pass cls=")
        cls = msgtype
    cls = dds_class(cls)
    if type(msg) is cls:
        return msg
    kwargs: dict[str, Any] = {}
    for name, kind, detail in _plan(cls):
        value = getattr(msg, name)
        if kind == "scalar":
            kwargs[name] = detail(value)
        elif kind == "struct":
            kwargs[name] = to_dds(value, detail)
        elif kind == "structs":
            kwargs[name] = [to_dds(v, detail) for v in value]
        elif kind == "bytes":
            if not _FAST:
                value = bytes(_byte_view(value))
            elif isinstance(value, (list, tuple)):
                value = bytes(value)
            kwargs[name] = value
        elif kind == "numbers":
            kwargs[name] = np.asarray(value).tolist()
        else:
            kwargs[name] = [str(v) for v in value]
    return cls(**kwargs)


def from_dds(sample: Any, typestore: Any) -> Any:
    """Convert a DDS sample to the ``typestore``'s (rosbags) message of the same ROS type.

    Byte fields become read-only ``uint8`` arrays over the received bytes (no copy); number
    sequences become numpy arrays, as rosbags' own deserialiser returns them.
    """
    cls = type(sample)
    ros_name = ros_typename(cls)
    try:
        target = typestore.types[ros_name]
    except KeyError:
        raise CodecError(f"typestore has no {ros_name}; register it first") from None
    kwargs: dict[str, Any] = {}
    for name, kind, detail in _plan(cls):
        value = getattr(sample, name)
        if kind == "struct":
            kwargs[name] = from_dds(value, typestore)
        elif kind == "structs":
            kwargs[name] = [from_dds(v, typestore) for v in value]
        elif kind == "bytes":
            kwargs[name] = (np.frombuffer(value, dtype=np.uint8)
                            if not isinstance(value, list) else np.asarray(value, dtype=np.uint8))
        elif kind == "numbers":
            kwargs[name] = np.asarray(value, dtype=detail)
        elif kind == "strings":
            kwargs[name] = list(value)
        else:
            kwargs[name] = value
    return target(**kwargs)


__all__ = ["BYTE_FIELDS", "BY_ROS_NAME", "MESSAGE_TYPES", "CameraInfo_", "DiagnosticArray_",
           "DiagnosticStatus_", "Header_", "Image_", "KeyValue_", "PointCloud2_", "PointField_",
           "Quaternion_", "RawBytesMachine", "RegionOfInterest_", "SegmentationInfo_",
           "SegmentationTiming_", "TFMessage_", "Time_", "Transform_", "TransformStamped_",
           "Vector3_", "dds_class", "dds_typename", "fast_bytes_enabled", "from_dds",
           "ros_typename", "set_fast_bytes", "to_dds"]
