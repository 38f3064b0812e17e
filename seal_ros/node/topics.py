"""The node's topics: names, types, QoS and roles, their resolution to ROS names, and the two
loops every middleware adapter runs (feeding inputs by role, the worker).

Both adapters (:mod:`seal_ros.adapters.rclpy_node`, :mod:`seal_ros.adapters.dds_node`) and the
replay tool import from here; none reaches into another adapter.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seal_ros.adapters.qos import DEFAULT, LATCHED, SENSOR_DATA, QosProfile
from seal_ros.errors import CodecError, CodecReason, ConfigError
from seal_ros.node import NODE_NAME
from seal_ros.node.params import NodeParams

if TYPE_CHECKING:
    from seal_ros.node.core import SegmentationNode

__all__ = ["Endpoint", "Role", "TOPICS", "TopicNames", "camera_info_topic", "feed", "feed_decoded",
           "image_topic", "overlay_topic", "parse_remaps", "publications", "run_worker",
           "subscriptions"]

TOPICS = {
    "input": "~/input/pointcloud",
    "segmentation": "~/output/segmentation",
    "visualization": "~/output/visualization",
    "filtered": "~/output/filtered",
    "timing": "~/output/timing",
    "info": "~/output/info",
    "diagnostics": "/diagnostics",
    "tf": "/tf",
    "tf_static": "/tf_static",
}
"""Node-relative topic names (adapters expand ``~`` and apply remappings)."""


class Role(enum.Enum):
    """What a topic is to the node: which callback an input feeds, or that it is an output."""

    CLOUD = "cloud"
    IMAGE = "image"
    CAMERA_INFO = "camera_info"
    TF = "tf"
    TF_STATIC = "tf_static"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One topic the node reads or writes.

    Attributes:
        topic: node-relative name (``~/...``) or absolute (``/tf``).
        msgtype: ROS type name, e.g. ``sensor_msgs/msg/PointCloud2``.
        qos: the ROS 2 profile (:data:`~seal_ros.adapters.qos.SENSOR_DATA`, ``DEFAULT``,
            ``LATCHED``).
        role: which callback an input feeds; :attr:`Role.OUTPUT` for publications.
        camera: the camera name for per-camera topics, else "".
    """

    topic: str
    msgtype: str
    qos: QosProfile
    role: Role
    camera: str = ""


def image_topic(camera: str) -> str:
    return f"~/input/{camera}/image"


def camera_info_topic(camera: str) -> str:
    return f"~/input/{camera}/camera_info"


def overlay_topic(camera: str) -> str:
    return f"~/output/{camera}/overlay"


def subscriptions(params: NodeParams) -> list[Endpoint]:
    """Topics a node with ``params`` reads (cameras add image, camera_info and TF); the cloud
    first."""
    out = [Endpoint(TOPICS["input"], "sensor_msgs/msg/PointCloud2", SENSOR_DATA, Role.CLOUD)]
    for cam in params.cameras.names:
        out += [Endpoint(image_topic(cam), "sensor_msgs/msg/Image", SENSOR_DATA, Role.IMAGE, cam),
                Endpoint(camera_info_topic(cam), "sensor_msgs/msg/CameraInfo", SENSOR_DATA,
                         Role.CAMERA_INFO, cam)]
    if params.cameras.names:
        out += [Endpoint(TOPICS["tf_static"], "tf2_msgs/msg/TFMessage", LATCHED, Role.TF_STATIC),
                Endpoint(TOPICS["tf"], "tf2_msgs/msg/TFMessage", DEFAULT, Role.TF)]
    return out


def publications(params: NodeParams) -> list[Endpoint]:
    """Topics a node with ``params`` writes."""
    cloud, out_ = "sensor_msgs/msg/PointCloud2", Role.OUTPUT
    out = [Endpoint(TOPICS["segmentation"], cloud, SENSOR_DATA, out_),
           Endpoint(TOPICS["visualization"], cloud, SENSOR_DATA, out_),
           Endpoint(TOPICS["filtered"], cloud, SENSOR_DATA, out_)]
    out += [Endpoint(overlay_topic(cam), "sensor_msgs/msg/Image", SENSOR_DATA, out_, cam)
            for cam in params.cameras.names]
    out += [Endpoint(TOPICS["timing"], "seal_msgs/msg/SegmentationTiming", DEFAULT, out_),
            Endpoint(TOPICS["info"], "seal_msgs/msg/SegmentationInfo", LATCHED, out_),
            Endpoint(TOPICS["diagnostics"], "diagnostic_msgs/msg/DiagnosticArray", DEFAULT, out_)]
    return out


def qos_name(qos: QosProfile) -> str:
    """``sensor``, ``default`` or ``latched`` for the three profiles the node uses (for logs)."""
    return {SENSOR_DATA: "sensor", DEFAULT: "default", LATCHED: "latched"}.get(qos, str(qos))


class TopicNames:
    """Node-relative names -> absolute ROS names (``~`` expansion and remappings), for the
    middleware without ROS's own name resolution (the DDS node, replay)."""

    def __init__(self, prefix: str = f"/{NODE_NAME}", remaps: dict[str, str] | None = None
                 ) -> None:
        self.prefix = "/" + prefix.strip("/")
        self.remaps = dict(remaps or {})

    def __call__(self, name: str) -> str:
        if name in self.remaps:
            return self.remaps[name]
        if name.startswith("~"):
            return self.prefix + name[1:]
        return name


def parse_remaps(items: Sequence[str]) -> dict[str, str]:
    """``FROM:=TO`` items (ROS 2's remapping syntax) -> {FROM: TO}."""
    remaps = {}
    for item in items:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise ConfigError(f"--remap {item!r}: expected FROM:=TO (e.g. ~/input/pointcloud:="
                              f"/points)")
        remaps[src] = dst
    return remaps


def feed(node: SegmentationNode, endpoint: Endpoint, msg: Any) -> None:
    """Hand one received message to the node callback of the endpoint's role."""
    if endpoint.role is Role.CLOUD:
        node.on_cloud(msg)
    elif endpoint.role is Role.IMAGE:
        node.on_image(endpoint.camera, msg)
    elif endpoint.role is Role.CAMERA_INFO:
        node.on_camera_info(endpoint.camera, msg)
    elif endpoint.role in (Role.TF, Role.TF_STATIC):
        node.on_tf(msg, static=endpoint.role is Role.TF_STATIC)
    else:
        raise ValueError(f"{endpoint.topic} is an output; nothing is fed from it")


def feed_decoded(node: SegmentationNode, endpoint: Endpoint, decode: Callable[[], Any]) -> None:
    """Decode a received sample with ``decode`` and feed it; one that does not decode (bad CDR,
    text that is not UTF-8, a layout the converter refuses) is a counted skip naming its topic,
    and the next sample is read as usual."""
    try:
        msg = decode()
    except CodecError as err:
        node.skip(err.reason, f"{endpoint.topic}: {err}")
        return
    except Exception as err:  # whatever the deserializer raises on bytes it cannot read
        node.skip(CodecReason.UNDECODABLE, f"{endpoint.topic}: a sample does not deserialize "
                  f"({type(err).__name__}: {err})")
        return
    feed(node, endpoint, msg)


def run_worker(node: SegmentationNode, stop: threading.Event, timeout_s: float = 0.1) -> None:
    """The worker thread of every adapter: process pending scans until ``stop`` is set."""
    while not stop.is_set():
        node.spin_once(timeout_s=timeout_s)
