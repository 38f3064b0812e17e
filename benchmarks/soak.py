"""Soak: the DDS node process at 20 Hz for minutes, with bad messages mixed in.

This process publishes lidar-like clouds (35k points) at ``--rate-hz`` onto the node's input,
and every ``--bad-every``-th message is a bad one, in turn: a sample that does not deserialise (a
field name that is not UTF-8), overlapping fields, a scan of only NaN points, a scan with points at
1e20 m, a truncated data buffer. It samples the node's RSS every second and reads ``/diagnostics``.
At the end the node is stopped with SIGINT and its counters are checked to add up:
received = processed + dropped (+1 in flight), skips per reason = the bad messages sent, and the
last diagnostics level is OK again. Prints a table. Loopback only.

    .venv/bin/python benchmarks/soak.py --minutes 30          # the full soak
    .venv/bin/python benchmarks/soak.py --minutes 2           # a quick one
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))  # after the packages: tests/seal_ros must not shadow

from seal_ros.adapters import dds, dds_types  # noqa: E402
from seal_ros.adapters.loopback import loopback_env  # noqa: E402
from seal_ros.core import codec  # noqa: E402
from seal_ros.core.synthetic_scan import lidar_like_scan  # noqa: E402
from support.node_helpers import write_package  # noqa: E402  (tests/support)

BAD = ["undecodable", "bad_layout", "no_finite_points", "far_out", "data_length"]
"""The bad messages, in turn; ``far_out`` is processed (its points are dropped), the others are
skipped under the reason of their name."""


def cloud(seed: int, kind: str | None = None, points: int = 35_000) -> dds_types.PointCloud2_:
    xyz, feats = lidar_like_scan(points, seed)
    xyz = xyz.astype(np.float32)
    if kind == "no_finite_points":
        xyz[:] = np.nan
    elif kind == "far_out":
        xyz[: points // 10, 0] = 1e20
    now = time.time_ns()
    data = codec.encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                         "intensity": feats[:, 0].astype(np.float32)}, stamp_ns=now,
                        frame_id="lidar_top")
    header = dds_types.Header_(stamp=dds_types.Time_(sec=now // 10**9, nanosec=now % 10**9),
                               frame_id="lidar_top")
    msg = data.to_message(dds_types.PointCloud2_, dds_types.PointField_, header)
    if kind == "bad_layout":
        msg.fields[3].offset = 2  # intensity overlaps y
    elif kind == "data_length":
        msg.data = bytes(msg.data)[:-7]
    elif kind == "undecodable":
        msg.fields[3].name = "QQQQQQQQQ"
        serialize = msg.serialize
        msg.serialize = lambda **kw: serialize(**kw).replace(b"QQQQQQQQQ", b"\xff\xfe" * 4 + b"Q")
    return msg


def diagnostic_levels(sub: dds.DdsSubscriber) -> list[int]:
    """The worst status level of each diagnostics message received since the last call."""
    def level(value: object) -> int:
        return value[0] if isinstance(value, bytes) else int(value)  # type: ignore[call-overload]
    return [max(level(s.level) for s in d.status) for d in sub.take() if d.status]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate-hz", type=float, default=20.0)
    parser.add_argument("--bad-every", type=int, default=25)
    parser.add_argument("--domain", type=int, default=1 + os.getpid() % 200)
    args = parser.parse_args()
    os.environ.update(loopback_env(args.domain))
    tmp = Path(tempfile.mkdtemp(prefix="seal-soak-"))
    package = write_package(tmp / "pkg")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    node = subprocess.Popen([sys.executable, "-m", "seal_ros.node", "--model", str(package),
                             "--engine", "gather", "--domain-id", str(args.domain), "--set",
                             "threads=1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert node.stdout is not None
    while "ready" not in (line := node.stdout.readline()):
        if not line:
            raise SystemExit("the node did not start")
    sent, bad_sent = 0, Counter()
    rss: list[tuple[float, float]] = []
    levels: list[int] = []
    goods = [cloud(seed) for seed in range(4)]
    with dds.DdsTransport(dds.DdsConfig(domain_id=args.domain)) as transport:
        pub = transport.publisher("/seal_segmentation/input/pointcloud", dds_types.PointCloud2_,
                                  dds.SENSOR_DATA)
        diag = transport.subscriber("/diagnostics", dds_types.DiagnosticArray_, dds.DEFAULT)
        seg = transport.subscriber("/seal_segmentation/output/segmentation",
                                   dds_types.PointCloud2_, dds.SENSOR_DATA)  # else it idles
        if not (pub.wait_for_subscribers(1, timeout_s=30)
                and seg.wait_for_publishers(1, timeout_s=30)):
            raise SystemExit("the node's endpoints did not match")
        segmented = 0
        time.sleep(1.0)
        start = time.monotonic()
        period, next_rss = 1.0 / args.rate_hz, start
        end = start + 60 * args.minutes
        while (now := time.monotonic()) < end:
            if sent % args.bad_every == args.bad_every - 1:
                kind = BAD[sum(bad_sent.values()) % len(BAD)]
                pub.publish(cloud(sent, kind))
                bad_sent[kind] += 1
            else:
                pub.publish(goods[sent % len(goods)])
            sent += 1
            if now >= next_rss:
                rss.append((now - start, rss_mb(node.pid)))
                next_rss += 1.0
            levels += diagnostic_levels(diag)
            segmented += len(seg.take())
            time.sleep(max(0.0, start + sent * period - time.monotonic()))
        time.sleep(2.0)
        levels += diagnostic_levels(diag)
        segmented += len(seg.take())
    node.send_signal(signal.SIGINT)
    out, _ = node.communicate(timeout=60)
    stopped = next(line for line in out.splitlines() if line.startswith("stopped:"))
    field = lambda name: int(stopped.split(f"{name} ")[1].split(",")[0].split(" ")[0])  # noqa: E731
    received, processed, dropped = field("received"), field("processed"), field("dropped")
    skipped = field("skipped")
    warm = [mb for t, mb in rss if t > 30.0] or [mb for _, mb in rss]
    third = max(1, len(warm) // 3)
    trend = statistics.median(warm[-third:]) - statistics.median(warm[:third])
    print(f"\nSoak: {args.minutes:g} min at {args.rate_hz:g} Hz, 35k-point clouds, one bad "
          f"message in {args.bad_every}\n")
    print("| figure | value |\n|---|---:|")
    print(f"| sent | {sent} |")
    print(f"| bad sent | {dict(bad_sent)} |")
    print(f"| node: {stopped.removeprefix('stopped: ')} | |")
    undecodable = bad_sent["undecodable"]  # never reach ``received``: not a cloud yet
    total = processed + dropped + skipped - undecodable
    print(f"| received = processed + dropped + skipped (decodable) | {received} = {processed} + "
          f"{dropped} + {skipped - undecodable} "
          f"({'yes' if total <= received <= total + 1 else 'NO'}) |")
    print(f"| segmentation clouds received here | {segmented} |")
    print(f"| RSS after 30 s, min..max (MB) | {min(warm):.0f}..{max(warm):.0f} |")
    print(f"| RSS trend, last third - first third (MB) | {trend:+.1f} |")
    print(f"| diagnostics messages / last level (0 = OK) | {len(levels)} / "
          f"{levels[-1] if levels else 'none'} |")
    return 0 if node.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
