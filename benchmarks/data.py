"""Data benchmarks: synthetic drive generation, Frame loading per source, PointCloud2 decode.

    .venv/bin/python benchmarks/data.py [--scenes 2 --frames 40 --out DIR]

Prints a markdown table with the measured figure, the target and whether it is met. Results are
checked, not only timed: the loaded frames must have points and six (or one) decoded images, the
decoded cloud must equal what was encoded.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from seal_ros.core.codec import decode, encode, read_points
from seal_train.sources.detect import open_source
from seal_train.synth import SynthConfig, generate_scene
from seal_train.synth.kitti_writer import write_kitti
from seal_train.synth.nuscenes_writer import write_nuscenes
from seal_train.synth.rosbag_writer import write_rosbag


def time_generation(out: Path, scenes: int, frames: int) -> dict[str, float]:
    config = replace(SynthConfig(), scenes=scenes, frames=frames)
    start = time.perf_counter()
    rendered = [generate_scene(config, index) for index in range(scenes)]
    times = {"render": time.perf_counter() - start}
    for name, write in (("nuscenes", lambda: write_nuscenes(rendered, out / "nuscenes")),
                        ("kitti", lambda: write_kitti(rendered, out / "kitti")),
                        ("rosbag", lambda: write_rosbag(rendered, out / "rosbag"))):
        start = time.perf_counter()
        write()
        times[name] = time.perf_counter() - start
    return times


def loading_rate(path: Path, expect_cameras: int) -> tuple[float, int]:
    source = open_source(path)
    start = time.perf_counter()
    count = 0
    for frame in source:
        assert len(frame.points) > 10_000 and len(frame.cameras) == expect_cameras
        assert all(cam.image.any() for cam in frame.cameras)  # decoded, not placeholders
        count += 1
    return count / (time.perf_counter() - start), count


def decode_time(points: int = 120_000, repeats: int = 200) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-50, 50, (points, 3)).astype(np.float32)
    cloud = encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                    "intensity": rng.uniform(0, 255, points).astype(np.float32),
                    "ring": rng.integers(0, 32, points).astype(np.uint16)})
    assert np.array_equal(read_points(cloud), xyz)
    samples_xyz, samples_all = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        read_points(cloud)
        samples_xyz.append(time.perf_counter() - start)
        start = time.perf_counter()
        arr = decode(cloud)
        read_points(arr, ("x", "y", "z", "intensity", "ring"))
        samples_all.append(time.perf_counter() - start)
    return statistics.median(samples_xyz) * 1e3, statistics.median(samples_all) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=2)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None, help="keep the drive here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="seal-bench-"))
    rows = []
    gen = time_generation(out, args.scenes, args.frames)
    total = sum(gen.values())
    label = f"synthetic drive {args.scenes} x {args.frames} frames, 6 cameras"
    rows.append((f"{label}: render", f"{gen['render']:.1f} s", "", ""))
    for fmt in ("nuscenes", "kitti", "rosbag"):
        rows.append((f"{label}: write {fmt}", f"{gen[fmt]:.1f} s", "", ""))
    rows.append((f"{label}: total", f"{total:.1f} s", "<= 60 s", "yes" if total <= 60 else "NO"))
    for fmt, cams, target in (("nuscenes", 6, 30.0), ("kitti", 1, None), ("rosbag", 6, None)):
        rate, count = loading_rate(out / fmt, cams)
        rows.append((f"Frame loading, {fmt} ({count} frames, images decoded)",
                     f"{rate:.1f} frames/s", f">= {target:.0f} frames/s" if target else "",
                     ("yes" if rate >= target else "NO") if target else ""))
    xyz_ms, all_ms = decode_time()
    rows.append(("PointCloud2 decode, 120k points: x, y, z", f"{xyz_ms:.2f} ms", "<= 2 ms",
                 "yes" if xyz_ms <= 2.0 else "NO"))
    rows.append(("PointCloud2 decode, 120k points: all 5 fields", f"{all_ms:.2f} ms", "", ""))
    print(f"\nData benchmarks ({torch.get_num_threads()} torch threads; drive in {out})\n")
    print("| measurement | result | target | met |\n|---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
