"""The segmentation node's ROS-free logic (DESIGN.md decisions 4, 5); the middleware adapters
that run it live in :mod:`seal_ros.adapters` (rclpy, DDS), the per-scan compute in
:mod:`seal_ros.core.pipeline`.

Contract between the parts (every adapter and the replay tool rely on it):

- Messages are ``rosbags`` typestore messages (``seal_ros.interfaces.typestore()``: the ROS 2
  standard types plus ``seal_msgs``). The core reads any duck-typed PointCloud2 (the codec accepts
  rosbags, cyclonedds and rclpy messages) and publishes rosbags messages; adapters convert
  (DDS: ``seal_ros.adapters.dds_types.to_dds``; rclpy: rosbags ``serialize_cdr`` then
  ``rclpy.serialization.deserialize_message``, the same bytes).
- Topic names are node-relative as in Autoware's segmentation nodes; adapters resolve ``~`` with
  the node name (default ``seal_segmentation``) and apply remappings:

  ==============================  =============================  ==========================
  name                            type                           QoS
  ==============================  =============================  ==========================
  ``~/input/pointcloud``          sensor_msgs/PointCloud2        sensor data (best effort, 5)
  ``~/input/<cam>/image``         sensor_msgs/Image              sensor data
  ``~/input/<cam>/camera_info``   sensor_msgs/CameraInfo         sensor data
  ``/tf``, ``/tf_static``         tf2_msgs/TFMessage             default / latched
  ``~/output/segmentation``       PointCloud2 x,y,z,class_id,probability   sensor data
  ``~/output/visualization``      PointCloud2 x,y,z,rgb          sensor data
  ``~/output/filtered``           PointCloud2 (input layout)     sensor data
  ``~/output/<cam>/overlay``      sensor_msgs/Image rgb8         sensor data
  ``~/output/timing``             seal_msgs/SegmentationTiming   default
  ``~/output/info``               seal_msgs/SegmentationInfo     latched (transient local)
  ``/diagnostics``                diagnostic_msgs/DiagnosticArray   default
  ==============================  =============================  ==========================

- An adapter implements :class:`NodeIO` (publish, subscriber check, clock), builds
  ``SegmentationNode(io, params)`` (which opens the engine, checks it against the package and
  publishes the latched info), subscribes to ``node.subscriptions()`` and feeds the callbacks
  ``on_cloud(msg)`` / ``on_image(camera, msg)`` / ``on_camera_info(camera, msg)`` /
  ``on_tf(msg, static=...)``, can publish ``node.publications()``; a worker thread calls
  ``spin_once(timeout_s)`` which processes the oldest of the newest ``queue_size`` pending scans
  (older ones are dropped and counted; outputs stay in time order). Outputs nobody subscribes to
  are not computed.
  Topics, their QoS and roles, name resolution and the shared feed / worker loops are in
  :mod:`seal_ros.node.topics`; ``seal_ros.adapters.dds_node`` is the reference adapter.
- Parameters: :mod:`seal_ros.node.params` (``config/segment.param.yaml``); the model:
  :class:`seal_ros.model_package.ModelPackage`.
"""

from __future__ import annotations

from typing import Any, Protocol

from seal_ros.lazy import lazy_exports

_EXPORTS = {
    "seal_ros.node.core": ("SegmentationNode",),
    "seal_ros.node.topics": ("Endpoint", "Role", "TOPICS", "TopicNames"),
    "seal_ros.node.model": ("load_engine", "open_pipeline"),
    "seal_ros.node.params": ("NodeParams", "load_params"),
    "seal_ros.node.diagnostics": ("NodeCounters",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = ["NodeIO", "NODE_NAME", *sorted(n for names in _EXPORTS.values() for n in names)]

NODE_NAME = "seal_segmentation"


class NodeIO(Protocol):
    """What the ROS-free node needs from its middleware."""

    def publish(self, topic: str, msg: Any) -> None:
        """Publish a rosbags-typed message on a node-relative topic name (table above)."""

    def has_subscribers(self, topic: str) -> bool:
        """True when someone subscribes to that output (outputs nobody reads are skipped)."""

    def now_ns(self) -> int:
        """Current time in ns (wall clock, or the recording's clock in replay / use_sim_time)."""
