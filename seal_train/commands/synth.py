"""``synth``: write the built-in synthetic drive as nuScenes, SemanticKITTI and rosbag2 datasets.

Examples:
    python -m seal_train synth --out /tmp/drive
    python -m seal_train synth --out /tmp/drive --scenes 4 --frames 20 --seed 3 --formats nuscenes
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from seal_ros.errors import ConfigError

log = logging.getLogger(__name__)
FORMATS = ("nuscenes", "kitti", "rosbag")


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="write the synthetic drive in dataset formats",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--scenes", type=int, default=2, help="number of scenes (default 2)")
    parser.add_argument("--frames", type=int, default=40, help="frames per scene (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help=f"comma-separated subset of {','.join(FORMATS)} (default all)")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap",
                        help="rosbag2 storage plugin (default mcap)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(run=run)


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ConfigError(f"--formats {text!r}: unknown {unknown}; choose from {FORMATS}")
    return formats


def run(args: argparse.Namespace) -> int:
    from seal_train.sources.splits import SPLIT_DIR, read_split_file
    from seal_train.synth.formats import write_drive

    formats = parse_formats(args.formats)
    if args.scenes < 1 or args.frames < 1:
        raise ConfigError("--scenes and --frames must be at least 1")
    start = time.perf_counter()
    outputs = write_drive(args.out, scenes=args.scenes, frames=args.frames, seed=args.seed,
                          formats=formats, storage=args.storage, overwrite=args.overwrite)
    seconds = time.perf_counter() - start
    print(f"synthetic drive: {args.scenes} scenes x {args.frames} frames, seed {args.seed}, "
          f"{seconds:.1f} s")
    for fmt, path in outputs.items():
        print(f"  {fmt:9s} {path}")
    listed = [outputs[fmt] / SPLIT_DIR for fmt in ("nuscenes", "kitti") if fmt in outputs]
    if listed:  # what the writers listed (the same scenes in both formats)
        train, val = (", ".join(read_split_file(listed[0] / f"{name}.txt"))
                      for name in ("train", "val"))
        print(f"  splits    train = {train}; val = {val} (split names train / val)")
    print(f"next: python -m seal_train data inspect {next(iter(outputs.values()))}")
    return 0
