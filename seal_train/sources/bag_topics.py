"""What a bag holds for :class:`~seal_train.sources.rosbag.RosbagSource`: which bags, and which
topics are the LiDAR and the cameras (images decode with :mod:`seal_ros.core.images`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from seal_ros.errors import BagError

log = logging.getLogger(__name__)

CLOUD = "sensor_msgs/msg/PointCloud2"
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
INFO = "sensor_msgs/msg/CameraInfo"
MASK_NAME = "instance_mask"
"""Last topic component of a camera's optional uint16 instance-mask Image (the synthetic oracle)."""


@dataclass(frozen=True)
class CameraTopics:
    """One camera: its name, image topic (Image or CompressedImage), CameraInfo topic, and the
    optional ``<namespace>/instance_mask`` topic (mono16 Image) when the bag has one."""

    name: str
    image_topic: str
    info_topic: str
    mask_topic: str | None = None


def expand_bags(path: str | Path | Sequence[str | Path]) -> list[Path]:
    """Bag paths: a bag, a list of bags, or a folder of bag folders / ``.bag`` files (sorted)."""
    if isinstance(path, (str, Path)):
        path = Path(path)
        if not path.exists():
            raise BagError(f"{path}: no such bag")
        if path.is_dir() and not (path / "metadata.yaml").is_file():
            bags = sorted(p for p in path.iterdir()
                          if (p.is_dir() and (p / "metadata.yaml").is_file()) or p.suffix == ".bag")
            if not bags:
                raise BagError(f"{path}: neither a rosbag2 folder (metadata.yaml) nor a folder "
                               f"of bags")
            return bags
        return [path]
    if not path:
        raise BagError("no bag paths given")
    return [Path(p) for p in path]


def namespace(topic: str, msgtype: str) -> str:
    """``/cam_front/image_raw`` -> ``/cam_front`` (``.../image_raw/compressed`` too)."""
    parts = topic.rstrip("/").split("/")
    if msgtype == COMPRESSED and parts[-1] == "compressed":
        parts = parts[:-1]
    return "/".join(parts[:-1]) or "/"


def select_topics(bag: Path, topics: dict[str, str], lidar_topic: str | None,
                  cameras: Mapping[str, str | tuple[str, str]] | None
                  ) -> tuple[str, tuple[CameraTopics, ...]]:
    """The LiDAR topic and cameras to read from a bag with ``topics`` (``{topic: msgtype}``).

    See :class:`~seal_train.sources.rosbag.RosbagSource` for ``lidar_topic`` and ``cameras``.

    Raises:
        BagError: a topic that is absent (naming the bag, the topic, and listing the topics there
            are) or of the wrong type, or no / several PointCloud2 topics to choose from.
    """
    listing = ", ".join(f"{t} ({m})" for t, m in sorted(topics.items()))

    def require(topic: str, types: tuple[str, ...], role: str) -> None:
        if topic not in topics:
            raise BagError(f"{bag}: no {role} topic {topic!r}; topics are: {listing}")
        if topics[topic] not in types:
            raise BagError(f"{bag}: {role} topic {topic!r} is {topics[topic]}, expected "
                           f"{' or '.join(types)}")

    if lidar_topic is None:
        clouds = sorted(t for t, m in topics.items() if m == CLOUD)
        if len(clouds) != 1:
            raise BagError(f"{bag}: {'no' if not clouds else 'several'} PointCloud2 topics "
                           f"{clouds}; pass lidar_topic= to choose; topics are: {listing}")
        lidar_topic = clouds[0]
    require(lidar_topic, (CLOUD,), "LiDAR")
    chosen: list[CameraTopics] = []
    if cameras is None:
        infos = {namespace(t, m): t for t, m in topics.items() if m == INFO}
        by_ns: dict[str, str] = {}
        for topic, msgtype in sorted(topics.items()):
            if msgtype in (IMAGE, COMPRESSED) and topic.rsplit("/", 1)[-1] != MASK_NAME:
                ns = namespace(topic, msgtype)
                if ns not in infos:
                    log.warning("%s: image topic %s has no CameraInfo in %s; not used", bag,
                                topic, ns)
                elif ns not in by_ns or msgtype == IMAGE:  # raw Image over its compressed twin
                    by_ns[ns] = topic
        chosen = [CameraTopics(ns.strip("/") or topic.strip("/"), topic, infos[ns])
                  for ns, topic in sorted(by_ns.items())]
    else:
        for name, spec in cameras.items():
            image_topic, info_topic = (spec, None) if isinstance(spec, str) else spec
            if info_topic is None:
                ns = namespace(image_topic, topics.get(image_topic, IMAGE))
                info_topic = f"{ns.rstrip('/')}/camera_info"
            chosen.append(CameraTopics(name, image_topic, info_topic))
    for i, cam in enumerate(chosen):
        mask = f"{namespace(cam.image_topic, topics.get(cam.image_topic, IMAGE)).rstrip('/')}/" \
               f"{MASK_NAME}"
        if topics.get(mask) == IMAGE:
            chosen[i] = cam = CameraTopics(cam.name, cam.image_topic, cam.info_topic, mask)
        require(cam.image_topic, (IMAGE, COMPRESSED), f"camera {cam.name} image")
        require(cam.info_topic, (INFO,), f"camera {cam.name} CameraInfo")
    return lidar_topic, tuple(chosen)


__all__ = ["CLOUD", "COMPRESSED", "IMAGE", "INFO", "MASK_NAME", "CameraTopics", "expand_bags",
           "namespace", "select_topics"]
