"""ROS 2 messages as cyclonedds IDL structs, byte-identical on the wire to ``rmw_cyclonedds_cpp``.

Each class mirrors its ``.msg`` definition field for field (same order, same IDL types), is
``final`` (cyclonedds-python's default) and carries the DDS type name ROS 2 uses, e.g.
``sensor_msgs::msg::dds_::PointCloud2_``. Written with XCDR1 (the DDS transport's QoS forces it),
a sample's bytes equal ``rosbags``' ``Typestore.serialize_cdr`` of the same message, the
4-byte encapsulation header included.

Byte sequences (``PointCloud2.data``, ``Image.data``, ``SegmentationInfo.palette``) travel as
raw bytes, not element by element (:mod:`seal_ros.adapters.dds_bytes`).

:func:`to_dds` and :func:`from_dds` convert between these classes and ``rosbags`` messages (of
:func:`seal_ros.interfaces.typestore`), so the codec and bag code serve both transports.
"""

# No ``from __future__ import annotations``: cyclonedds resolves the field annotations at run time
# and cannot resolve string annotations such as "t.uint32".
#
# The IDL fields are declared with cyclonedds' run-time type constructors (t.sequence[T],
# t.array[T, n]), which mypy reads as plain classes: it rejects their arguments and the defaults
# ([] / b"" / [0.0] * n) assigned to them. Those three checks are off for this module only.
# mypy: disable-error-code="type-arg, valid-type, assignment"

import typing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t

from seal_ros.adapters.dds_bytes import BYTE_FIELDS, byte_view, fast_bytes_enabled, raw_bytes
from seal_ros.errors import CodecError, CodecReason

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


@raw_bytes("data")
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


@raw_bytes("data")
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


@raw_bytes("palette")
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
    # set on every IdlStruct subclass by cyclonedds' metaclass
    return str(cls.__idl_typename__).replace(".", "::")  # type: ignore[attr-defined]


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
        raise CodecError(CodecReason.UNKNOWN_TYPE,
                         f"no DDS type for {msg_type!r}; known: {sorted(BY_ROS_NAME)}") from None


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
            raise CodecError(CodecReason.UNKNOWN_TYPE,
                             f"cannot tell the ROS type of a {type(msg).__name__}; pass cls=")
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
            if not fast_bytes_enabled():
                value = bytes(byte_view(value))
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
        raise CodecError(CodecReason.UNKNOWN_TYPE,
                         f"typestore has no {ros_name}; register it first") from None
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


__all__ = ["BY_ROS_NAME", "MESSAGE_TYPES", "CameraInfo_", "DiagnosticArray_",
           "DiagnosticStatus_", "Header_", "Image_", "KeyValue_", "PointCloud2_", "PointField_",
           "Quaternion_", "RegionOfInterest_", "SegmentationInfo_",
           "SegmentationTiming_", "TFMessage_", "Time_", "Transform_", "TransformStamped_",
           "Vector3_", "dds_class", "dds_typename", "from_dds", "ros_typename", "to_dds"]
