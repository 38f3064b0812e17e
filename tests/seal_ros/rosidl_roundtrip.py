"""Child process of ``test_rosidl_interfaces.py``: the built ``seal_msgs`` and ``tf2_msgs`` types
through a real rclpy publisher and subscription (Fast DDS), one JSON line on stdout.

- ``SegmentationTiming``: typed and raw (CDR bytes, for the parent to decode with rosbags)
  subscriptions, then a volatile reliable publisher.
- ``SegmentationInfo``: published once on a latched (transient-local, reliable, depth 1)
  publisher, subscribed only afterwards.
- ``TFMessage``: two transforms on ``/tf``.

Run by the test with :func:`seal_ros.adapters.loopback.loopback_env`'s environment; rclpy starts
only through :func:`seal_ros.adapters.loopback.init_rclpy`, which refuses without it.
"""

from __future__ import annotations

import array
import json
import sys
import time
from typing import Any

from seal_ros.adapters.loopback import init_rclpy

TIMEOUT_S = 20.0


def plain(value: Any) -> Any:
    """A rosidl message (or field value) as JSON-able Python data."""
    if hasattr(value, "get_fields_and_field_types"):
        return {name: plain(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (list, tuple, array.array)) or hasattr(value, "tolist"):
        return [plain(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    return value


def main() -> int:
    rclpy = init_rclpy()
    from geometry_msgs.msg import TransformStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from seal_msgs.msg import SegmentationInfo, SegmentationTiming
    from std_msgs.msg import Header
    from tf2_msgs.msg import TFMessage

    node = rclpy.create_node("seal_rosidl_roundtrip")
    got: dict[str, Any] = {}
    out: dict[str, Any] = {}

    def spin_until(key: str, publish: Any = None) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while key not in got and time.monotonic() < deadline:
            if publish is not None:
                publish()
            rclpy.spin_once(node, timeout_sec=0.05)

    def hashes(topic: str) -> list[list[str]]:
        return [[info.topic_type, str(info.topic_type_hash)]
                for info in node.get_publishers_info_by_topic(topic)]

    # SegmentationTiming, volatile: subscribe first, publish until it arrives.
    node.create_subscription(SegmentationTiming, "/seal_test/timing",
                             lambda m: got.setdefault("timing", m), 10)
    node.create_subscription(SegmentationTiming, "/seal_test/timing",
                             lambda b: got.setdefault("timing_raw", b), 10, raw=True)
    timing_pub = node.create_publisher(SegmentationTiming, "/seal_test/timing", 10)
    timing = SegmentationTiming(
        header=Header(frame_id="lidar_top"), stage_names=["decode", "voxelize", "inference"],
        stage_ms=[0.5, 12.25, 40.0], total_ms=52.75, num_points=120_000, num_voxels=61_234,
        dropped_messages=2**40 + 7)
    timing.header.stamp.sec, timing.header.stamp.nanosec = 12, 345
    spin_until("timing", lambda: timing_pub.publish(timing))
    spin_until("timing_raw", lambda: timing_pub.publish(timing))
    out["timing"] = plain(got.get("timing"))
    out["timing_cdr"] = bytes(got["timing_raw"]).hex() if "timing_raw" in got else None
    out["timing_hashes"] = hashes("/seal_test/timing")

    # SegmentationInfo, latched: publish once, subscribe afterwards.
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    info_pub = node.create_publisher(SegmentationInfo, "/seal_test/info", latched)
    info = SegmentationInfo(header=Header(frame_id="lidar_top"), model_id="seal-test 0.1",
                            class_names=["ignore", "car", "road"],
                            palette=[0, 0, 0, 255, 158, 0, 128, 64, 128], ignore_id=0)
    info.header.stamp.sec = 3
    info_pub.publish(info)
    rclpy.spin_once(node, timeout_sec=0.2)
    node.create_subscription(SegmentationInfo, "/seal_test/info",
                             lambda m: got.setdefault("info", m), latched)
    spin_until("info")
    out["info"] = plain(got.get("info"))
    out["info_hashes"] = hashes("/seal_test/info")

    # TFMessage on /tf.
    node.create_subscription(TFMessage, "/tf", lambda m: got.setdefault("tf", m), 10)
    tf_pub = node.create_publisher(TFMessage, "/tf", 10)
    transforms = []
    for parent, child, x in (("map", "base_link", 1.5), ("base_link", "lidar_top", -0.25)):
        t = TransformStamped()
        t.header.frame_id, t.child_frame_id = parent, child
        t.header.stamp.sec = 5
        t.transform.translation.x = x
        t.transform.rotation.z, t.transform.rotation.w = 0.6, 0.8
        transforms.append(t)
    tf = TFMessage(transforms=transforms)
    spin_until("tf", lambda: tf_pub.publish(tf))
    out["tf"] = plain(got.get("tf"))
    out["tf_hashes"] = hashes("/tf")

    node.destroy_node()
    rclpy.shutdown()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
