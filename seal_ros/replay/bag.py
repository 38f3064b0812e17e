"""Bag input and output of the replay tool, with ``rosbags`` (no ROS install).

Input: a rosbag2 folder (sqlite3 or MCAP; a ``.db3``/``.mcap`` file means its folder) or a ROS 1
``.bag``; the cloud topic is ``--topic`` or the recording's only PointCloud2 topic. Output: a new
rosbag2 folder in MCAP with the node's outputs under their live names (``/seal_segmentation/...``),
for RViz / Foxglove; existing outputs are replaced only with ``overwrite``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seal_ros.errors import BagError, ConfigError

__all__ = ["CloudBag", "OutputBag"]

POINTCLOUD2 = ("sensor_msgs/msg/PointCloud2", "sensor_msgs/PointCloud2")


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
        try:
            self._reader = AnyReader([path], default_typestore=typestore)
            self._reader.open()
        except Exception as err:  # rosbags raises several reader error types
            raise BagError(f"{path}: not a readable rosbag2 folder or ROS 1 bag: {err}") from err
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

    @property
    def start_ns(self) -> int:
        """Bag time of the recording's first message."""
        return int(self._reader.start_time)

    def __len__(self) -> int:
        return sum(int(c.msgcount) for c in self.connections)

    def clouds(self) -> Iterator[tuple[int, Any]]:
        """``(bag time ns, PointCloud2)`` in time order."""
        for conn, t_ns, raw in self._reader.messages(connections=self.connections):
            yield t_ns, self._reader.deserialize(raw, conn.msgtype)

    def close(self) -> None:
        self._reader.close()


class OutputBag:
    """A new MCAP rosbag2 of the node's outputs: ``write(topic, msgtype, msg, t_ns)``."""

    def __init__(self, path: str | Path, typestore: Any, overwrite: bool = False) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        path = Path(path)
        if path.exists():
            if not overwrite:
                raise ConfigError(f"{path}: exists; pass --overwrite to replace it")
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.typestore = typestore
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
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
