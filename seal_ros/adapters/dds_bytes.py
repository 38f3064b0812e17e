"""Byte sequences of ROS 2 messages on cyclonedds without per-element Python work.

cyclonedds-python (de)serialises ``sequence<uint8>`` one element at a time into a Python list
(about 100 ms for a 2 MB cloud). For the byte fields listed in
:data:`BYTE_FIELDS` (``PointCloud2.data``, ``Image.data``, ``SegmentationInfo.palette``) the
declared type stays ``sequence<uint8>``, so the XTypes type object and the type name are what ROS
expects, but the serialisation machine is swapped for :class:`RawBytesMachine`: a 4-aligned
``uint32`` length followed by the raw bytes. That is exactly the XCDR1 (and XCDR2) encoding of a
``sequence<uint8>``, so peers cannot tell the difference. Writers accept ``bytes``, ``bytearray``,
``memoryview`` or a numpy array for these fields (no per-element work); readers get ``bytes``
(``np.frombuffer`` views them). :func:`set_fast_bytes` switches back to the stock machine (for
the benchmark only).

The message classes (:mod:`seal_ros.adapters.dds_types`) opt in with the :func:`raw_bytes` class
decorator.
"""

from typing import Any

import numpy as np
from cyclonedds.idl._machinery import (  # private, pinned by tests/seal_ros/adapters/test_dds.py
    BytesMachine,
    PlainCdrV2SequenceOfPrimitiveMachine,
    StructMachine,
)

from seal_ros.errors import CodecError, CodecReason

__all__ = ["BYTE_FIELDS", "RawBytesMachine", "byte_view", "fast_bytes_enabled", "raw_bytes",
           "set_fast_bytes"]


def byte_view(value: Any) -> Any:
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
        raise CodecError(CodecReason.BAD_VALUES,
                         f"a byte sequence field got a {type(value).__name__}; expected bytes, "
                         f"bytearray, memoryview or a uint8 numpy array") from None


class RawBytesMachine(BytesMachine):
    """``sequence<uint8>`` as a ``uint32`` length and the raw bytes: its XCDR1/XCDR2 wire format."""

    def __init__(self) -> None:
        super().__init__(bound=None)

    def serialize(self, buffer: Any, value: Any, *args: Any, **kwargs: Any) -> None:
        view = byte_view(value)
        buffer.align(4)
        buffer.write("I", 4, len(view) if not isinstance(view, memoryview) else view.nbytes)
        buffer.write_bytes(view)


BYTE_FIELDS: dict[str, tuple[str, ...]] = {}
"""``{DDS class name: byte fields served by RawBytesMachine}``, filled by :func:`raw_bytes`."""

_MACHINES: dict[tuple[type, str], tuple[Any, Any]] = {}  # (class, field) -> (stock v1, stock v2)
_FAST = True


def _struct_machines(cls: type) -> tuple[StructMachine, StructMachine]:
    idl = cls.__idl__  # type: ignore[attr-defined]  # set on IdlStruct classes by cyclonedds
    idl.populate()
    v1, v2 = idl.v1_machine, idl.v2_machine
    if not isinstance(v1, StructMachine) or not isinstance(v2, StructMachine):
        raise TypeError(f"{cls.__name__}: expected final-struct machines, got {type(v1).__name__}"
                        f" / {type(v2).__name__} (cyclonedds version change?)")
    return v1, v2


def raw_bytes(*names: str) -> Any:
    """Class decorator: the ``sequence<uint8>`` fields ``names`` go by :class:`RawBytesMachine`."""
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
