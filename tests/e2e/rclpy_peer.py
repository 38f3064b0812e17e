"""A real ROS 2 node (rclpy, Fast DDS) that drives a segmentation node and records its outputs.

Usage (run with the environment of ``seal_ros.adapters.loopback.loopback_env``)::

    python rclpy_peer.py BAG --out DIR --node /seal_segmentation [--cameras CAM_FRONT]
        [--interval-ms 1500] [--deadline-s 150]

It publishes the bag's ``/tf_static``, then for every cloud the cameras' Image and CameraInfo of
the same stamp and the cloud itself (on ``<node>/input/...``, as the node's remapping-free names
are), and records every message of the node's outputs as the CDR bytes that arrived:
``DIR/<output>/<n>.cdr`` (``segmentation``, ``visualization``, ``filtered``, ``timing``, ``info``,
``diagnostics``, ``<camera>_overlay``). Sensor topics are best effort: a cloud whose
segmentation, visualization or filtered cloud does not come back within ``--reply-s`` is sent
again (at most ``--tries`` times, each counted in the ``done`` event). One JSON line per event on
stdout; exit 0 when every cloud came back, 2 when ``--deadline-s`` ran out first (the last event
then says what had not arrived). Whatever arrived is written out either way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rosbags.highlevel import AnyReader

from seal_ros import interfaces
from seal_ros.adapters.loopback import init_rclpy

CLOUD_TOPIC = "/lidar_top/points"


def _emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def read_bag(bag: Path, cameras: list[str]) -> dict[str, list[tuple[int, bytes]]]:
    """Raw CDR messages by topic: the cloud, ``/tf_static`` and each camera's image and info."""
    topics = {CLOUD_TOPIC, "/tf_static"}
    for cam in cameras:
        topics |= {f"/{cam.lower()}/image_raw", f"/{cam.lower()}/camera_info"}
    out: dict[str, list[tuple[int, bytes]]] = {t: [] for t in topics}
    with AnyReader([bag], default_typestore=interfaces.typestore()) as reader:
        conns = [c for c in reader.connections if c.topic in topics]
        for conn, stamp, raw in reader.messages(conns):
            out[conn.topic].append((stamp, bytes(raw)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bag", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--node", default="/seal_segmentation", help="the node's namespace/name")
    parser.add_argument("--cameras", nargs="*", default=[])
    parser.add_argument("--interval-ms", type=float, default=1500.0)
    parser.add_argument("--deadline-s", type=float, default=150.0,
                        help="the whole run, discovery included: the peer always exits by then")
    parser.add_argument("--reply-s", type=float, default=10.0)
    parser.add_argument("--tries", type=int, default=3)
    args = parser.parse_args(argv)

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

    from seal_ros.adapters.rclpy_node import message_class as get_message

    rclpy = init_rclpy()
    node = rclpy.create_node("seal_test_peer")
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    default = QoSProfile(depth=10)
    sensor = qos_profile_sensor_data
    msgs = read_bag(args.bag, args.cameras)
    prefix = args.node.rstrip("/")

    cloud_pub = node.create_publisher(get_message("sensor_msgs/msg/PointCloud2"),
                                      f"{prefix}/input/pointcloud", sensor)
    cam_pubs = {cam: (node.create_publisher(get_message("sensor_msgs/msg/Image"),
                                            f"{prefix}/input/{cam}/image", sensor),
                      node.create_publisher(get_message("sensor_msgs/msg/CameraInfo"),
                                            f"{prefix}/input/{cam}/camera_info", sensor))
                for cam in args.cameras}
    tf_pub = None
    if args.cameras:
        tf_pub = node.create_publisher(get_message("tf2_msgs/msg/TFMessage"), "/tf_static",
                                       latched)

    outputs = {"segmentation": ("sensor_msgs/msg/PointCloud2", "output/segmentation", sensor),
               "visualization": ("sensor_msgs/msg/PointCloud2", "output/visualization", sensor),
               "filtered": ("sensor_msgs/msg/PointCloud2", "output/filtered", sensor),
               "timing": ("seal_msgs/msg/SegmentationTiming", "output/timing", default),
               "info": ("seal_msgs/msg/SegmentationInfo", "output/info", latched),
               "diagnostics": ("diagnostic_msgs/msg/DiagnosticArray", "/diagnostics", default)}
    for cam in args.cameras:
        outputs[f"{cam}_overlay"] = ("sensor_msgs/msg/Image", f"output/{cam}/overlay", sensor)
    received: dict[str, list[bytes]] = {name: [] for name in outputs}
    stamps: dict[str, set[int]] = {"segmentation": set(), "visualization": set(),
                                   "filtered": set()}
    store = interfaces.typestore()

    def record(data: bytes, name: str) -> None:
        received[name].append(data)
        if name in stamps:
            stamp = store.deserialize_cdr(bytes(data), "sensor_msgs/msg/PointCloud2").header.stamp
            stamps[name].add(stamp.sec * 10**9 + stamp.nanosec)

    subs = []
    for name, (msgtype, topic, qos) in outputs.items():
        topic = topic if topic.startswith("/") else f"{prefix}/{topic}"
        subs.append(node.create_subscription(get_message(msgtype), topic,
                                             lambda data, n=name: record(data, n), qos, raw=True))
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    start = time.monotonic()
    run_deadline = start + args.deadline_s

    def spin_until(done, timeout_s: float) -> bool:
        deadline = min(time.monotonic() + timeout_s, run_deadline)
        while not done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        return done()

    if not spin_until(lambda: cloud_pub.get_subscription_count() > 0
                      and node.count_publishers(f"{prefix}/output/segmentation") > 0,
                      args.deadline_s):
        _emit(event="timeout", waiting_for="the node's endpoints",
              cloud_subscribers=cloud_pub.get_subscription_count(),
              segmentation_publishers=node.count_publishers(f"{prefix}/output/segmentation"))
        return 2
    _emit(event="matched", after_s=round(time.monotonic() - start, 2))
    spin_until(lambda: False, 1.0)  # both sides of every match settle
    if tf_pub is not None:
        for _, raw in msgs["/tf_static"]:
            tf_pub.publish(raw)
    clouds = msgs[CLOUD_TOPIC]
    sent = 0
    for i, (_, raw) in enumerate(clouds):
        stamp = store.deserialize_cdr(raw, "sensor_msgs/msg/PointCloud2").header.stamp
        stamp_ns = stamp.sec * 10**9 + stamp.nanosec
        for _ in range(args.tries):
            for cam, (image_pub, info_pub) in cam_pubs.items():
                image_pub.publish(msgs[f"/{cam.lower()}/image_raw"][i][1])
                info_pub.publish(msgs[f"/{cam.lower()}/camera_info"][i][1])
            spin_until(lambda: False, 0.2)  # images first: the node pairs a cloud with them
            _emit(event="sent", index=i, stamp_ns=stamp_ns, wall_ns=time.time_ns())
            cloud_pub.publish(raw)
            sent += 1
            if spin_until(lambda ns=stamp_ns: all(ns in s for s in stamps.values()),
                          args.reply_s):
                break
        _emit(event="replied" if all(stamp_ns in s for s in stamps.values()) else "no reply",
              index=i, missing=[name for name, s in stamps.items() if stamp_ns not in s],
              after_s=round(time.monotonic() - start, 2))
        spin_until(lambda: False, args.interval_ms / 1e3)
    complete = spin_until(lambda: all(len(s) == len(clouds) for s in stamps.values())
                          and len(received["timing"]) >= sent
                          and received["info"] and received["diagnostics"], args.deadline_s)
    for name, items in received.items():
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        for n, data in enumerate(items):
            (folder / f"{n}.cdr").write_bytes(bytes(data))
    _emit(event="done" if complete else "timeout", sent=sent,
          received={name: len(items) for name, items in received.items()},
          after_s=round(time.monotonic() - start, 2))
    node.destroy_node()
    rclpy.shutdown()
    return 0 if complete else 2


if __name__ == "__main__":
    sys.exit(main())
