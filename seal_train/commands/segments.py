"""``segments``: cluster every scan pair (t, t+n) of a dataset into LiDAR segments, once.

Both scans are registered in scan t's LiDAR frame with the ego poses, the ground is removed
(RANSAC plane per scan) and the aggregated cloud is clustered with HDBSCAN, so one segment id
names the same object in both scans (TARL's recipe; Seal's temporal objective reads them).
Resumable (pairs already in the store are skipped; safe to kill), parallel over processes, and
sharded over machines with --shard I/N.

Examples:
    python -m seal_train segments --data drive/nuscenes --split train --out seg/next --workers 2
    python -m seal_train segments --data /data/kitti --pairs n=2 --out seg/n2 --shard 0/4
    python -m seal_train segments --data drive/nuscenes --out seg/coarse --voxel 0.2 \\
        --min-cluster-size 10 --max-clusters 100
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from seal_train.commands.superpixels import parse_shard
from seal_train.scene.generate_segments import generate_segments
from seal_train.scene.pairs import SegmentParams, parse_pair_rule
from seal_train.sources.detect import open_split

_DEFAULTS = SegmentParams()


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="cluster scan pairs into LiDAR segments and cache them",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset root or bag (any format `data inspect` reads)")
    parser.add_argument("--split", default="all",
                        help="nuScenes scenes / KITTI sequences: a split name, a list file, or "
                             "all (default)")
    parser.add_argument("--pairs", default="next", metavar="RULE",
                        help="next (scan t with t+1, default) or n=K (t with t+K), within a "
                             "sequence")
    parser.add_argument("--out", type=Path, required=True, help="store folder")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes (default: all cores)")
    parser.add_argument("--shard", default="0/1", help="I/N: this process does pairs I::N")
    parser.add_argument("--seed", type=int, default=0, help="RANSAC seed (default 0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute everything, replacing a store made otherwise")
    group = parser.add_argument_group("clustering")
    group.add_argument("--voxel", type=float, default=_DEFAULTS.voxel_m, metavar="M",
                       help=f"voxel edge of the subsample HDBSCAN runs on, metres; 0 = every "
                            f"point (default {_DEFAULTS.voxel_m})")
    group.add_argument("--min-cluster-size", type=int, default=_DEFAULTS.min_cluster_size,
                       help=f"HDBSCAN min_cluster_size in voxels (default "
                            f"{_DEFAULTS.min_cluster_size})")
    group.add_argument("--min-samples", type=int, default=None,
                       help="HDBSCAN min_samples (default: --min-cluster-size)")
    group.add_argument("--neighbours", type=int, default=_DEFAULTS.neighbours,
                       help=f"nearest voxels per voxel in the sparse HDBSCAN graph (default "
                            f"{_DEFAULTS.neighbours})")
    group.add_argument("--max-clusters", type=int, default=_DEFAULTS.max_clusters,
                       help=f"keep the N largest clusters, 0 = all (default "
                            f"{_DEFAULTS.max_clusters}, TARL's)")
    group.add_argument("--ground-band", type=float, default=_DEFAULTS.ground_band_m, metavar="M",
                       help=f"points within M metres of the ground plane are ground (default "
                            f"{_DEFAULTS.ground_band_m})")
    parser.set_defaults(run=run)


def params_from_args(args: argparse.Namespace) -> SegmentParams:
    return SegmentParams(voxel_m=args.voxel, min_cluster_size=args.min_cluster_size,
                         min_samples=args.min_samples, neighbours=args.neighbours,
                         max_clusters=args.max_clusters, ground_band_m=args.ground_band)


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    offset = parse_pair_rule(args.pairs)
    shard = parse_shard(args.shard)
    frames = open_split(args.data, args.split)
    report = generate_segments(frames, args.out, params, offset, seed=args.seed,
                               workers=max(args.workers, 1), shard=shard,
                               overwrite=args.overwrite)
    print(report.summary())
    print(f"store: {args.out}")
    return 0
