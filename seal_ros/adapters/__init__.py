"""Middleware adapters: the node's logic stays ROS-free; these move its messages.

- :mod:`seal_ros.adapters.dds`: pure-Python DDS (cyclonedds) in ROS 2's wire format, for machines
  without ROS and for tests; talks to real ROS 2 nodes on DDS RMWs.
- :mod:`seal_ros.adapters.dds_types`: the ROS message types as cyclonedds IDL structs and their
  conversion to and from rosbags messages.

Names are re-exported lazily, so importing this package loads neither cyclonedds nor rclpy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "seal_ros.adapters.dds": (
        "DEFAULT", "LATCHED", "LOOPBACK_XML", "SENSOR_DATA", "DdsConfig", "DdsPublisher",
        "DdsSubscriber", "DdsTransport", "Durability", "QosProfile", "Reliability",
        "TransportError", "dds_topic_name"),
    "seal_ros.adapters.dds_types": (
        "CameraInfo_", "DiagnosticArray_", "DiagnosticStatus_", "Header_", "Image_", "KeyValue_",
        "PointCloud2_", "PointField_", "Quaternion_", "RegionOfInterest_", "SegmentationInfo_",
        "SegmentationTiming_", "TFMessage_", "Time_", "Transform_", "TransformStamped_",
        "Vector3_", "dds_class", "from_dds", "to_dds"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'seal_ros.adapters' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = sorted(_WHERE)
