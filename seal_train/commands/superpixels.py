"""``superpixels``: segment every camera image of a dataset once and cache the result.

Resumable (images already in the store are skipped; safe to kill), parallel over processes, and
sharded over machines with --shard I/N.

Examples:
    python -m seal_train superpixels --data drive/nuscenes --source slic --out sp/slic --workers 2
    python -m seal_train superpixels --data drive/nuscenes --source oracle --out sp/oracle
    python -m seal_train superpixels --data drive/nuscenes --source oracle-slic --out sp/cut
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from seal_ros.errors import ConfigError
from seal_train.sources.detect import open_source
from seal_train.superpixels.generate import generate
from seal_train.superpixels.sources import SOURCES, SlicSource, make_source


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="compute and cache superpixels", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset root or bag (any format `data inspect` reads)")
    parser.add_argument("--source", choices=sorted(SOURCES), default="slic",
                        help="superpixel source (default slic)")
    parser.add_argument("--out", type=Path, default=None,
                        help="store folder (default: <data>/../superpixels-<source>)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes (default: all cores)")
    parser.add_argument("--shard", default="0/1", help="I/N: this process does frames I::N")
    parser.add_argument("--slic-segments", type=int, default=SlicSource.n_segments,
                        help="SLIC parameters (--source slic and oracle-slic)")
    parser.add_argument("--slic-compactness", type=float, default=SlicSource.compactness)
    parser.add_argument("--slic-sigma", type=float, default=SlicSource.sigma)
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute everything, replacing a store made otherwise")
    parser.set_defaults(run=run)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    return index, count


def run(args: argparse.Namespace) -> int:
    source = make_source(args.source,
                         SlicSource(args.slic_segments, args.slic_compactness, args.slic_sigma))
    out = args.out or args.data.resolve().parent / f"superpixels-{args.source}"
    frames = open_source(args.data)
    report = generate(frames, source, out, workers=max(args.workers, 1),
                      shard=parse_shard(args.shard), overwrite=args.overwrite)
    print(report.summary())
    return 0
