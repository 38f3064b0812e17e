"""The ``seal_msgs`` interfaces, loaded from their ``.msg`` files into a ``rosbags`` typestore.

The same files ROS builds with ``rosidl_generate_interfaces`` define the types here, so bags and the
DDS transport carry ``seal_msgs`` without a ROS install and cannot drift from the ROS build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from seal_ros.errors import InterfaceError

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

PACKAGE = "seal_msgs"
MESSAGES = ("SegmentationInfo", "SegmentationTiming")


def _candidate_dirs() -> list[Path]:
    """Where the .msg files can live: source tree, pip data files, ament prefixes."""
    dirs = [Path(__file__).resolve().parent.parent / "msg" / "msg",
            Path(sys.prefix) / "share" / PACKAGE / "msg"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / PACKAGE / "msg")
    return dirs


def msg_dir() -> Path:
    """The directory holding ``SegmentationInfo.msg`` and ``SegmentationTiming.msg``."""
    for path in _candidate_dirs():
        if all((path / f"{name}.msg").is_file() for name in MESSAGES):
            return path
    searched = ", ".join(str(p) for p in _candidate_dirs())
    raise InterfaceError(f"{PACKAGE} message definitions {MESSAGES} not found; searched {searched}")


def definitions() -> dict[str, str]:
    """``{"seal_msgs/msg/SegmentationInfo": <msg text>, ...}``."""
    root = msg_dir()
    return {f"{PACKAGE}/msg/{name}": (root / f"{name}.msg").read_text() for name in MESSAGES}


def register(typestore: Typestore) -> Typestore:
    """Add the seal_msgs types to ``typestore`` (idempotent) and return it."""
    from rosbags.typesys import get_types_from_msg

    types = {}
    for name, text in definitions().items():
        if name in typestore.types:
            continue
        try:
            types.update(get_types_from_msg(text, name))
        except Exception as err:  # rosbags raises its own parse errors
            raise InterfaceError(f"{msg_dir()}/{name.rsplit('/', 1)[1]}.msg: {err}") from err
    if types:
        typestore.register(types)
    return typestore


def typestore(distro: str = "ROS2_HUMBLE") -> Typestore:
    """A fresh rosbags typestore with seal_msgs; ``distro``: a ``rosbags.typesys.Stores`` name."""
    from rosbags.typesys import Stores, get_typestore

    try:
        store = Stores[distro]
    except KeyError:
        raise InterfaceError(f"unknown ROS distribution {distro!r}; expected one of "
                             f"{[s.name for s in Stores]}") from None
    return register(get_typestore(store))
