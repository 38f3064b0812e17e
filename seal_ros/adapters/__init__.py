"""Middleware adapters: the node's logic stays ROS-free; these move its messages.

- :mod:`seal_ros.adapters.dds`: pure-Python DDS (cyclonedds) in ROS 2's wire format, for machines
  without ROS and for tests; talks to real ROS 2 nodes on DDS RMWs.
- :mod:`seal_ros.adapters.qos`: ROS 2's QoS profiles (sensor data, default, latched).
- :mod:`seal_ros.adapters.dds_types`: the ROS message types as cyclonedds IDL structs and their
  conversion to and from rosbags messages.

Names are re-exported lazily, so importing this package loads neither cyclonedds nor rclpy.
"""

from __future__ import annotations

from seal_ros.lazy import lazy_exports

_EXPORTS = {
    "seal_ros.adapters.dds": (
        "LOOPBACK_XML", "DdsConfig", "DdsPublisher", "DdsSubscriber", "DdsTransport",
        "TransportError", "dds_topic_name"),
    "seal_ros.adapters.qos": (
        "DEFAULT", "LATCHED", "SENSOR_DATA", "Durability", "QosProfile", "Reliability"),
    "seal_ros.adapters.dds_types": (
        "CameraInfo_", "DiagnosticArray_", "DiagnosticStatus_", "Header_", "Image_", "KeyValue_",
        "PointCloud2_", "PointField_", "Quaternion_", "RegionOfInterest_", "SegmentationInfo_",
        "SegmentationTiming_", "TFMessage_", "Time_", "Transform_", "TransformStamped_",
        "Vector3_", "dds_class", "from_dds", "to_dds"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
