"""``probe``: linear probing of a pretrained backbone (frozen, eval mode) with SLidR's protocol.

Without --checkpoint it probes a randomly initialised backbone (the baseline). Config keys (see
ProbeConfig in seal_train/engine/probe.py) are overridden as key=value.

Examples:
    python -m seal_train probe --checkpoint runs/pretrain/last.pt
    python -m seal_train probe --checkpoint runs/pretrain/last.pt data=/data/nuscenes \\
        train_split=train val_split=val out_dir=runs/probe-nus
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seal_train.config import load_config


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="linear probing of a pretrained backbone",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="pretraining checkpoint (default: random-init backbone)")
    parser.add_argument("--config", type=Path, default=None, help="YAML config file")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seal_train.engine.probe import ProbeConfig, probe

    overrides = list(args.overrides)
    if args.checkpoint is not None:
        overrides.append(f"checkpoint={args.checkpoint}")
    result = probe(load_config(ProbeConfig, args.config, overrides))
    print(result.scores.markdown())
    print(f"linear probe: mIoU {100 * result.scores.miou:.2f} % ({result.seconds:.0f} s)")
    print(f"  head   {result.head_path}")
    for path in result.report:
        print(f"  wrote  {path}")
    print(f"next: python -m seal_train evaluate --head {result.head_path} --split <split>")
    return 0
