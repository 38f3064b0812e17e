"""Publisher process for the node tests: plays the clouds of a bag on DDS (ROS 2 wire format).

Usage (one JSON line per event on stdout; exit 0, or 2 when no subscriber matched in time)::

    python dds_player.py BAG --domain 17 --topic /lidar_top/points --interval-ms 1000
    python dds_player.py BAG --domain 17 --rate-hz 20 --duration-s 30     # loop, fresh stamps

The first mode sends every cloud once with its recorded header; the second loops over them at a
fixed rate and stamps each with the wall clock (a live sensor). Messages are read with rosbags and
converted with ``to_dds`` (the raw-bytes fast path: no per-element copies).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rosbags.highlevel import AnyReader

from seal_ros import interfaces
from seal_ros.adapters import dds, dds_types


def _emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def read_clouds(bag: Path, topic: str) -> list:
    store = interfaces.typestore()
    with AnyReader([bag], default_typestore=store) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(conns)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bag", type=Path)
    parser.add_argument("--domain", type=int, required=True)
    parser.add_argument("--topic", default="/lidar_top/points")
    parser.add_argument("--interval-ms", type=float, default=500.0)
    parser.add_argument("--rate-hz", type=float, default=0.0, help="loop at this rate")
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    clouds = [dds_types.to_dds(m) for m in read_clouds(args.bag, args.topic)]
    with dds.DdsTransport(dds.DdsConfig(domain_id=args.domain)) as transport:
        pub = transport.publisher(args.topic, dds_types.PointCloud2_, dds.SENSOR_DATA)
        if not pub.wait_for_subscribers(1, args.timeout):
            _emit(event="timeout")
            return 2
        time.sleep(0.3)  # the reader's side of the match settles too
        if args.rate_hz <= 0:
            for cloud in clouds:
                stamp = cloud.header.stamp
                _emit(event="sent", stamp_ns=stamp.sec * 10**9 + stamp.nanosec,
                      wall_ns=time.time_ns())
                pub.publish(cloud)
                time.sleep(args.interval_ms / 1e3)
            return 0
        period = 1.0 / args.rate_hz
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < args.duration_s:
            cloud = clouds[sent % len(clouds)]
            now = time.time_ns()
            cloud.header.stamp = dds_types.Time_(sec=now // 10**9, nanosec=now % 10**9)
            pub.publish(cloud)
            sent += 1
            time.sleep(max(0.0, start + sent * period - time.monotonic()))
        _emit(event="done", sent=sent, seconds=time.monotonic() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
