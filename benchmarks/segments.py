"""Pair segments (``seal_train segments``): time per pair and purity against the synthetic drive.

Renders one synthetic scene (no dataset files: the frames carry per-point ``instances``) at the
drive's default LiDAR (32 beams x 1088 azimuth steps, ~33k points a scan) and denser (~35k and
~50k), times :func:`seal_train.scene.pairs.segment_pair` per pair and scores it:

* purity: share of clustered non-ground points whose instance is their cluster's majority one;
* spans both: of the instances that are the majority of some cluster in both scans, the share
  whose majority cluster in scan a is also their majority cluster in scan b (one id, one object);
* clustered: share of all points (ground included) in a cluster.

Rows compare the voxel subsample sizes (0 = every point). Prints a markdown table.

    .venv/bin/python benchmarks/segments.py [--pairs 4] [--scans 33k,35k]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from seal_train.scene.pairs import SegmentParams, segment_pair
from seal_train.sources.frame import Frame
from seal_train.synth.drive import SynthConfig, generate_scene

DENSITY = {"33k": 1088, "35k": 1152, "50k": 1632}
"""Scan size label -> LiDAR azimuth steps (32 beams)."""


def majority(ids: np.ndarray, instances: np.ndarray) -> dict[int, int]:
    """Cluster id -> its majority instance."""
    ok = ids >= 0
    if not ok.any():
        return {}
    uniq, inst = np.unique(instances[ok], return_inverse=True)
    table = np.zeros((ids[ok].max() + 1, len(uniq)), np.int64)
    np.add.at(table, (ids[ok], inst), 1)
    return {int(c): int(uniq[table[c].argmax()]) for c in range(len(table)) if table[c].sum()}


def score(frame_a: Frame, frame_b: Frame, ids_a: np.ndarray, ids_b: np.ndarray
          ) -> tuple[int, int, int, int, int]:
    """(pure points, clustered points, all points, spanning instances, instances that are a
    cluster's majority in both scans) of one pair."""
    ids = np.concatenate([ids_a, ids_b])
    inst = np.concatenate([frame_a.instances, frame_b.instances]).astype(np.int64)
    clustered = ids >= 0
    pure = 0
    if clustered.any():
        owner = majority(ids, inst)
        lookup = np.array([owner.get(c, -2) for c in range(ids.max() + 1)])
        pure = int((lookup[ids[clustered]] == inst[clustered]).sum())
    # the instance's majority cluster in each scan
    best = []
    for ids_f, frame in ((ids_a, frame_a), (ids_b, frame_b)):
        ok = ids_f >= 0
        per = {}
        if ok.any():
            pairs, n = np.unique(np.stack([frame.instances[ok].astype(np.int64), ids_f[ok]]),
                                 axis=1, return_counts=True)
            for (i, c), k in zip(pairs.T, n, strict=True):
                if k > per.get(int(i), (0, -1))[0]:
                    per[int(i)] = (int(k), int(c))
        best.append({i: c for i, (_, c) in per.items()})
    both = set(best[0]) & set(best[1])
    spanning = sum(best[0][i] == best[1][i] for i in both)
    return pure, int(clustered.sum()), len(ids), spanning, len(both)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=4, help="pairs per scan size (default 4)")
    parser.add_argument("--scans", default="33k,35k", help=f"scan sizes of {sorted(DENSITY)}")
    parser.add_argument("--voxels", default="0.1,0.2,0", help="voxel sizes in metres")
    args = parser.parse_args()
    print(f"cores available: {len(os.sched_getaffinity(0))}")
    rows = []
    warm = generate_scene(SynthConfig(scenes=1, frames=2, image_width=32, image_height=18), 0)
    segment_pair(warm.frames[0].frame, warm.frames[1].frame)  # imports out of the timings
    for label in args.scans.split(","):
        config = SynthConfig(scenes=1, frames=args.pairs + 1, image_width=32, image_height=18,
                             lidar_azimuth_steps=DENSITY[label])
        scene = generate_scene(config, 0)
        frames = [f.frame for f in scene.frames]
        points = np.mean([len(f.points) for f in frames])
        for voxel in (float(v) for v in args.voxels.split(",")):
            params = SegmentParams(voxel_m=voxel)
            seconds, totals = [], np.zeros(5, np.int64)
            clusters = []
            for a, b in zip(frames[:-1], frames[1:], strict=True):
                start = time.perf_counter()
                ids_a, ids_b = segment_pair(a, b, params, seed=0)
                seconds.append(time.perf_counter() - start)
                totals += score(a, b, ids_a, ids_b)
                clusters.append(max(ids_a.max(), ids_b.max()) + 1)
            rows.append((label, points, voxel, np.mean(seconds), np.max(seconds),
                         np.mean(clusters), totals[1] / totals[2], totals[0] / max(totals[1], 1),
                         totals[3] / max(totals[4], 1)))
    print("| scan | points/scan | voxel m | s/pair mean | s/pair max | clusters | clustered "
          "| purity | spans both |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, points, voxel, mean, worst, clusters, share, purity, spans in rows:
        voxel_text = f"{voxel:g}" if voxel else "0 (all points)"
        print(f"| {label} | {points:.0f} | {voxel_text} | {mean:.2f} | {worst:.2f} | "
              f"{clusters:.0f} | {share:.3f} | {purity:.3f} | {spans:.3f} |")


if __name__ == "__main__":
    main()
