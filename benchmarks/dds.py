"""DDS transport: serialisation time and two-process latency, with and without the raw-bytes path.

Usage::

    python benchmarks/dds.py                       # 35k and 120k points, 20 clouds each
    python benchmarks/dds.py --points 120000 --count 50 --domain 42

Prints one table row per (cloud size, byte path): serialise and deserialise medians in this
process, and publish -> subscriber-callback latency (median / p90 / max) for clouds sent by a
second process (this script run with ``--role publisher``). Latency is wall clock from the
publisher's ``header.stamp`` (taken just before ``publish``, so serialisation counts) to the
callback; both processes share the host clock. Every received cloud is checked byte for byte.
Traffic stays on loopback (``DdsConfig`` default) unless ``CYCLONEDDS_URI`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from seal_ros.adapters import dds, dds_bytes, dds_types  # noqa: E402
from seal_ros.core import codec  # noqa: E402

QOS = {"default": dds.DEFAULT, "sensor": dds.SENSOR_DATA}


def make_cloud(n_points: int, seed: int) -> codec.CloudData:
    """x, y, z, intensity float32 + ring uint16 (18 bytes per point)."""
    rng = np.random.default_rng(seed)
    xyz = rng.normal(0.0, 20.0, size=(n_points, 3)).astype(np.float32)
    return codec.encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                         "intensity": rng.random(n_points, dtype=np.float32),
                         "ring": rng.integers(0, 32, n_points).astype(np.uint16)},
                        frame_id=f"lidar_{seed}")


def to_message(cloud: codec.CloudData, stamp_ns: int, fast: bool) -> dds_types.PointCloud2_:
    header = dds_types.Header_(stamp=dds_types.Time_(sec=stamp_ns // 10**9,
                                                     nanosec=stamp_ns % 10**9),
                               frame_id=cloud.frame_id)
    msg = cloud.to_message(dds_types.PointCloud2_, dds_types.PointField_, header)
    if not fast:
        msg.data = cloud.data.tobytes()  # the stock machine iterates; numpy would be slower
    return msg


def serialise_ms(n_points: int, fast: bool, repeats: int) -> tuple[float, float]:
    """Median serialise and deserialise times of one cloud, milliseconds."""
    dds_bytes.set_fast_bytes(fast)
    msg = to_message(make_cloud(n_points, 0), 0, fast)
    ser, de = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        wire = msg.serialize(use_version_2=False)
        t1 = time.perf_counter()
        back = dds_types.PointCloud2_.deserialize(wire)
        t2 = time.perf_counter()
        ser.append((t1 - t0) * 1e3)
        de.append((t2 - t1) * 1e3)
    if bytes(back.data) != make_cloud(n_points, 0).data.tobytes():
        raise SystemExit("serialisation round trip changed the cloud")
    return statistics.median(ser), statistics.median(de)


def publisher(args: argparse.Namespace) -> int:
    """The second process: wait for a subscriber, send ``count`` clouds."""
    fast = not args.slow
    dds_bytes.set_fast_bytes(fast)
    clouds = [make_cloud(args.points, seed) for seed in range(args.count)]
    with dds.DdsTransport(dds.DdsConfig(domain_id=args.domain)) as transport:
        pub = transport.publisher(args.topic, dds_types.PointCloud2_, QOS[args.qos])
        if not pub.wait_for_subscribers(1, 20.0):
            print(json.dumps({"event": "timeout"}), flush=True)
            return 2
        time.sleep(0.2)
        for cloud in clouds:
            pub.publish(to_message(cloud, time.time_ns(), fast))
            time.sleep(args.interval_ms / 1e3)
        time.sleep(0.5)
    return 0


def latency_ms(n_points: int, fast: bool, count: int, domain: int, interval_ms: float,
               qos: str) -> list[float]:
    """Publish -> callback latencies of ``count`` clouds from a second process."""
    dds_bytes.set_fast_bytes(fast)
    latencies: list[float] = []
    received: list[dds_types.PointCloud2_] = []

    def on_cloud(msg: dds_types.PointCloud2_) -> None:
        now = time.time_ns()
        latencies.append((now - msg.header.stamp.sec * 10**9 - msg.header.stamp.nanosec) / 1e6)
        received.append(msg)

    cmd = [sys.executable, __file__, "--role", "publisher", "--domain", str(domain),
           "--points", str(n_points), "--count", str(count), "--interval-ms", str(interval_ms),
           "--qos", qos]
    if not fast:
        cmd.append("--slow")
    with dds.DdsTransport(dds.DdsConfig(domain_id=domain)) as transport:
        transport.subscriber("/bench/points", dds_types.PointCloud2_, QOS[qos],
                             callback=on_cloud)
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              timeout=60 + count * (interval_ms / 1e3 + 1))
        if proc.returncode != 0:
            raise SystemExit(f"publisher failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        deadline = time.monotonic() + 5
        while len(received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
    for msg in received:
        seed = int(msg.header.frame_id.split("_")[1])
        if bytes(msg.data) != make_cloud(n_points, seed).data.tobytes():
            raise SystemExit(f"cloud {seed} arrived changed")
    if len(received) < count:
        print(f"warning: {count - len(received)} of {count} clouds lost", file=sys.stderr)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["bench", "publisher"], default="bench")
    parser.add_argument("--points", type=int, nargs="+", default=[35_000, 120_000])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--interval-ms", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=10, help="serialisation repeats")
    parser.add_argument("--domain", type=int, default=100 + os.getpid() % 100)
    parser.add_argument("--topic", default="/bench/points")
    parser.add_argument("--qos", choices=sorted(QOS), default="default",
                        help="default: reliable keep-last 10; sensor: best effort keep-last 5")
    parser.add_argument("--slow", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "publisher":
        args.points = args.points[0]
        return publisher(args)

    print(f"{'points':>8} {'MB':>5} {'byte path':>10} {'ser ms':>7} {'deser ms':>8} "
          f"{'lat med':>8} {'lat p90':>8} {'lat max':>8} {'n':>3}")
    for n_points in args.points:
        for fast in (True, False):
            ser, de = serialise_ms(n_points, fast, args.repeats)
            lat = latency_ms(n_points, fast, args.count, args.domain, args.interval_ms, args.qos)
            p90 = float(np.percentile(lat, 90)) if lat else float("nan")
            print(f"{n_points:>8} {n_points * 18 / 1e6:>5.2f} {'raw' if fast else 'stock':>10} "
                  f"{ser:>7.2f} {de:>8.2f} {statistics.median(lat) if lat else float('nan'):>8.1f}"
                  f" {p90:>8.1f} {max(lat, default=float('nan')):>8.1f} {len(lat):>3}",
                  flush=True)
    dds_bytes.set_fast_bytes(True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
