"""Bag input and output of the replay tool, with ``rosbags`` (no ROS install).

Input: a rosbag2 folder (sqlite3 or MCAP; a ``.db3``/``.mcap`` file means its folder) or a ROS 1
``.bag``; the cloud topic is ``--topic`` or the recording's only PointCloud2 topic. Output: a new
rosbag2 folder in MCAP with the node's outputs under their live names (``/seal_segmentation/...``),
for RViz / Foxglove. ``overwrite`` replaces only a previous output of the replay (its
``metadata.yaml`` carries a marker, or lists only the node's topics, and the folder holds nothing
else), never the input recording or a folder around it. A damaged MCAP recording (a recorder that
died mid-write) is read up to the damage (:mod:`seal_ros.replay.recovery`); a message that does not
deserialize is skipped and reported (:class:`SkippedScan`), and the replay goes on.
"""

from __future__ import annotations

import logging
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seal_ros.config_files import read_yaml
from seal_ros.errors import BagError, CodecReason, ConfigError, SealError
from seal_ros.replay.recovery import RecoveredMcap

__all__ = ["CloudBag", "OutputBag", "SkippedScan", "format_stamp"]

log = logging.getLogger(__name__)
POINTCLOUD2 = ("sensor_msgs/msg/PointCloud2", "sensor_msgs/PointCloud2")
MARKER = ("seal_replay", "output of python -m seal_ros.replay")
"""``custom_data`` key and value in the ``metadata.yaml`` of every output bag."""


def format_stamp(stamp_ns: int) -> str:
    """``sec.nanosec`` as in ``ros2 topic echo``."""
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"


@dataclass(frozen=True, slots=True)
class SkippedScan:
    """A scan the replay could not hand to the node (or score), where it is and why.

    Attributes:
        topic: the cloud topic.
        stamp_ns: the header stamp (read from the raw bytes when the message does not
            deserialize; the bag time when even that fails).
        bag_time_ns: when the recorder received it.
        reason: the key it is counted under (a :class:`~seal_ros.errors.CodecReason` value).
        message: what is wrong.
    """

    topic: str
    stamp_ns: int
    bag_time_ns: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.topic} at stamp {format_stamp(self.stamp_ns)}: {self.reason}: {self.message}"


def _raw_stamp_ns(raw: bytes | memoryview, ros2: bool) -> int | None:
    """The header stamp of serialized bytes: it comes first in a PointCloud2 (CDR: after the
    4-byte encapsulation header, byte order from its second byte; ROS 1: after ``seq``)."""
    if len(raw) < 12:
        return None
    order = "<" if not ros2 or raw[1] & 1 else ">"
    sec, nsec = struct.unpack_from(f"{order}iI" if ros2 else "<II", raw, 4)
    return int(sec) * 1_000_000_000 + int(nsec) if nsec < 1_000_000_000 else None


def _mcap_file(path: Path) -> Path | None:
    """The one MCAP file of a rosbag2 folder (None: not exactly one)."""
    files = sorted(path.glob("*.mcap")) if path.is_dir() else []
    return files[0] if len(files) == 1 else None


def _bag_info(folder: Path) -> Any:
    """``rosbag2_bagfile_information`` of the folder's ``metadata.yaml``.

    Raises:
        SealError, KeyError: no such file, not YAML, not rosbag2 metadata.
    """
    return read_yaml(folder / "metadata.yaml", "rosbag2 metadata")["rosbag2_bagfile_information"]


def _listed_count(folder: Path, topic: str) -> int | None:
    """Messages on ``topic`` per the folder's ``metadata.yaml`` (None: no readable count)."""
    try:
        info = _bag_info(folder)
        counts = [int(t["message_count"]) for t in info["topics_with_message_count"]
                  if t["topic_metadata"]["name"] == topic]
    except (SealError, KeyError, TypeError, ValueError):
        return None
    return counts[0] if len(counts) == 1 else None


class CloudBag:
    """The clouds of one recording, in time order.

    Args:
        path: rosbag2 folder (or its ``.db3`` / ``.mcap`` file) or ROS 1 ``.bag``.
        topic: the cloud topic; None picks the only PointCloud2 topic.
        typestore: rosbags typestore for message types the bag does not define.
    """

    def __init__(self, path: str | Path, topic: str | None, typestore: Any) -> None:
        from rosbags.highlevel import AnyReader

        path = Path(path)
        if path.suffix in (".db3", ".mcap") and path.is_file():
            path = path.parent
        if not path.exists():
            raise BagError(f"{path}: no such bag")
        self.path = path
        self.recovery: str | None = None  # what a damaged recording lost (None: intact)
        self._reader: Any
        self._ros2 = path.suffix != ".bag"
        try:
            self._reader = AnyReader([path], default_typestore=typestore)
            self._reader.open()
        except Exception as err:  # rosbags raises several reader error types
            recovered = self._recover(path, typestore)
            if recovered is None:
                raise BagError(f"{path}: not a readable rosbag2 folder or ROS 1 bag: {err}"
                               ) from err
            self._reader = recovered
        clouds = sorted({c.topic for c in self._reader.connections if c.msgtype in POINTCLOUD2})
        if topic is None:
            if len(clouds) != 1:
                self.close()
                raise BagError(f"{path}: {len(clouds)} PointCloud2 topics {clouds}; choose one "
                               f"with --topic")
            topic = clouds[0]
        self.connections = [c for c in self._reader.connections if c.topic == topic]
        if not self.connections:
            found = sorted({f"{c.topic} ({c.msgtype})" for c in self._reader.connections})
            self.close()
            raise BagError(f"{path}: no topic {topic!r}; it has {found}")
        if any(c.msgtype not in POINTCLOUD2 for c in self.connections):
            self.close()
            raise BagError(f"{path}: {topic!r} is {self.connections[0].msgtype}, expected "
                           f"sensor_msgs/msg/PointCloud2")
        self.topic = topic
        if isinstance(self._reader, RecoveredMcap):
            listed = _listed_count(path, topic)
            read = len(self)
            self.recovery = (f"{self._reader.lost()}; {read} complete messages on {topic}"
                             + (f" of the {listed} that metadata.yaml lists ({listed - read} lost)"
                                if listed is not None else ""))
            log.warning("%s", self.recovery)

    @staticmethod
    def _recover(path: Path, typestore: Any) -> RecoveredMcap | None:
        """The readable head of a damaged MCAP recording; None when that is not the trouble
        (not MCAP, several files, or a file that reads to its footer)."""
        mcap = path if path.suffix == ".mcap" else _mcap_file(path)
        if mcap is None:
            return None
        try:
            recovered = RecoveredMcap(mcap, typestore)
        except (OSError, BagError):
            return None
        return recovered if recovered.damage is not None else None

    @property
    def start_ns(self) -> int:
        """Bag time of the recording's first message."""
        return int(self._reader.start_time)

    def __len__(self) -> int:
        return sum(int(c.msgcount) for c in self.connections)

    def clouds(self) -> Iterator[tuple[int, Any]]:
        """``(bag time ns, PointCloud2)`` in time order; a :class:`SkippedScan` (reason
        ``undecodable``) in place of a message that does not deserialize."""
        for conn, t_ns, raw in self._reader.messages(connections=self.connections):
            try:
                msg = self._reader.deserialize(raw, conn.msgtype)
            except Exception as err:  # rosbags raises anything from bad bytes (UTF-8, struct)
                stamp = _raw_stamp_ns(raw, self._ros2)
                yield t_ns, SkippedScan(
                    self.topic, t_ns if stamp is None else stamp, t_ns,
                    CodecReason.UNDECODABLE.value,
                    f"{len(raw)} bytes do not deserialize as {conn.msgtype}: "
                    f"{type(err).__name__}: {err}")
                continue
            yield t_ns, msg

    def close(self) -> None:
        self._reader.close()


def _not_replay_output(path: Path, prefix: str) -> str | None:
    """Why the existing ``path`` is not a previous output of the replay (None: it is one)."""
    if not path.is_dir() or path.is_symlink():
        return "it is not a folder"
    entries = {p.name for p in path.iterdir()}
    if not entries:
        return None
    if "metadata.yaml" not in entries:
        return "it has no metadata.yaml (not a rosbag2 folder)"
    try:
        info = _bag_info(path)
        custom = info.get("custom_data") or {}
        topics = [str(t["topic_metadata"]["name"]) for t in info["topics_with_message_count"]]
        files = {str(name) for name in info["relative_file_paths"]}
    except (SealError, KeyError, TypeError, AttributeError):
        return "its metadata.yaml is not rosbag2 metadata"
    marked = isinstance(custom, dict) and custom.get(MARKER[0]) == MARKER[1]
    if not (marked or (topics and all(t.startswith(prefix) for t in topics))):
        return (f"its metadata.yaml has no {MARKER[0]} marker and its topics {topics[:4]} are not "
                f"only the node's ({prefix}...)")
    if extra := sorted(entries - files - {"metadata.yaml"}):
        return f"it holds files the replay does not write: {extra[:4]}"
    return None


def check_output_path(path: Path, protect: Path | None, overwrite: bool, prefix: str) -> None:
    """Refuse an output that is, holds or lies inside ``protect`` (the input recording), or
    exists and is not a previous output of the replay (paths resolved: links, ``..``).

    Raises:
        ConfigError: names the path and why it is refused.
    """
    if protect is not None:
        out, inp = path.resolve(), protect.resolve()
        relation = ("is" if out == inp else "contains" if inp.is_relative_to(out)
                    else "is inside" if out.is_relative_to(inp) else None)
        if relation is not None:
            raise ConfigError(f"{path}: --out {relation} the input recording {protect}; refused "
                              f"(choose an output path outside it)")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise ConfigError(f"{path}: exists; pass --overwrite to replace it")
        if (why := _not_replay_output(path, prefix)) is not None:
            raise ConfigError(f"{path}: exists and --overwrite replaces only a previous replay "
                              f"output, but {why}; remove it yourself or choose another --out")


class OutputBag:
    """A new MCAP rosbag2 of the node's outputs: ``write(topic, msgtype, msg, t_ns)``.

    Args:
        path: the rosbag2 folder to write.
        typestore: rosbags typestore that serializes the messages.
        overwrite: replace ``path`` if it is a previous output of the replay.
        protect: the input recording, never written over or into.
        prefix: topic prefix of the node's outputs (how an unmarked older output is recognised).
    """

    def __init__(self, path: str | Path, typestore: Any, overwrite: bool = False,
                 protect: Path | None = None, prefix: str = "/seal_segmentation/") -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        path = Path(path)
        check_output_path(path, protect, overwrite, prefix)
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.typestore = typestore
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.set_custom_data(*MARKER)
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def write(self, topic: str, msgtype: str, msg: Any, t_ns: int) -> None:
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(topic, msgtype,
                                                                   typestore=self.typestore)
            self.counts[topic] = 0
        self._writer.write(self._connections[topic], int(t_ns),
                           self.typestore.serialize_cdr(msg, msgtype))
        self.counts[topic] += 1

    def close(self) -> None:
        self._writer.close()
