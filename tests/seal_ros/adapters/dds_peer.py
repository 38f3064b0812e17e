"""The other process in the DDS tests and benchmark: publishes clouds or a latched info message.

Usage (prints one JSON line per event on stdout, exits 0 on success, 2 on a timeout)::

    python dds_peer.py clouds --domain 17 --topic /seal/points --points 120000 --count 10
    python dds_peer.py info --domain 17 --topic /seal/info --linger 10
    python dds_peer.py echo --domain 17 --topic /seal/points --reply /seal/points_echo

``clouds`` waits for a subscriber, then publishes ``count`` clouds made by :func:`make_cloud`
(seed = index) with ``header.stamp`` = wall time just before ``publish``; ``info`` publishes one
:func:`make_info` on a latched topic and stays alive ``--linger`` seconds (or until stdin closes);
``echo`` republishes every received cloud unchanged. ``--slow`` turns the raw-bytes fast path off.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from seal_ros.adapters import dds, dds_bytes, dds_types
from seal_ros.core import codec

QOS = {"sensor": dds.SENSOR_DATA, "default": dds.DEFAULT, "latched": dds.LATCHED}


def make_cloud(n_points: int, seed: int, stamp_ns: int = 0) -> codec.CloudData:
    """x, y, z, intensity float32 + ring uint16 (18 bytes per point), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    xyz = rng.normal(0.0, 20.0, size=(n_points, 3)).astype(np.float32)
    return codec.encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                         "intensity": rng.random(n_points, dtype=np.float32),
                         "ring": rng.integers(0, 32, n_points).astype(np.uint16)},
                        stamp_ns=stamp_ns, frame_id=f"lidar_{seed}")


def make_info() -> dds_types.SegmentationInfo_:
    """The latched message the ``info`` mode publishes."""
    return dds_types.SegmentationInfo_(
        header=dds_types.Header_(stamp=dds_types.Time_(sec=7, nanosec=8), frame_id="lidar"),
        model_id="minkunet34-synthetic@1", class_names=["road", "car", "person"],
        palette=bytes([128, 64, 128, 0, 0, 142, 220, 20, 60]), ignore_id=255)


def cloud_message(cloud: codec.CloudData, stamp_ns: int, slow: bool) -> dds_types.PointCloud2_:
    header = dds_types.Header_(stamp=dds_types.Time_(sec=stamp_ns // 10**9,
                                                     nanosec=stamp_ns % 10**9),
                               frame_id=cloud.frame_id)
    msg = cloud.to_message(dds_types.PointCloud2_, dds_types.PointField_, header)
    if slow:
        msg.data = cloud.data.tobytes()
    return msg


def _emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["clouds", "info", "echo"])
    parser.add_argument("--domain", type=int, required=True)
    parser.add_argument("--topic", default="/seal/points")
    parser.add_argument("--reply", default="/seal/points_echo")
    parser.add_argument("--qos", choices=sorted(QOS), default="default")
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--interval-ms", type=float, default=50.0)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for a match")
    parser.add_argument("--linger", type=float, default=10.0)
    parser.add_argument("--slow", action="store_true", help="element-wise byte sequences")
    args = parser.parse_args(argv)

    if args.slow:
        dds_bytes.set_fast_bytes(False)
    with dds.DdsTransport(dds.DdsConfig(domain_id=args.domain)) as transport:
        if args.mode == "info":
            pub = transport.publisher(args.topic, dds_types.SegmentationInfo_, dds.LATCHED)
            pub.publish(make_info())
            _emit(event="published")
            deadline = time.monotonic() + args.linger
            while time.monotonic() < deadline:
                time.sleep(0.05)
            return 0

        if args.mode == "echo":
            out = transport.publisher(args.reply, dds_types.PointCloud2_, QOS[args.qos])
            received = []
            transport.subscriber(args.topic, dds_types.PointCloud2_, QOS[args.qos],
                                 callback=lambda m: (out.publish(m), received.append(1)))
            _emit(event="ready")
            deadline = time.monotonic() + args.linger
            while time.monotonic() < deadline and len(received) < args.count:
                time.sleep(0.01)
            time.sleep(0.2)  # let the last reply leave
            _emit(event="done", echoed=len(received))
            return 0

        pub = transport.publisher(args.topic, dds_types.PointCloud2_, QOS[args.qos])
        clouds = [make_cloud(args.points, seed) for seed in range(args.count)]
        if not pub.wait_for_subscribers(1, args.timeout):
            _emit(event="timeout", waited_s=args.timeout)
            return 2
        time.sleep(0.1)  # the reader's side of the match settles too
        for cloud in clouds:
            stamp_ns = time.time_ns()
            t0 = time.perf_counter()
            pub.publish(cloud_message(cloud, stamp_ns, args.slow))
            _emit(event="sent", frame_id=cloud.frame_id,
                  publish_ms=(time.perf_counter() - t0) * 1e3)
            time.sleep(args.interval_ms / 1e3)
        time.sleep(0.3)  # reliable resends before the writer goes away
    return 0


if __name__ == "__main__":
    sys.exit(main())
