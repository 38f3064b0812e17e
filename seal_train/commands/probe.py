"""``probe``: linear probing of a pretrained backbone (frozen, eval mode) with SLidR's protocol.

Without --checkpoint it probes a randomly initialised backbone (the baseline). The head trains on
``train_split`` and is scored on ``val_split`` (nuScenes scene or SemanticKITTI sequence split
names, or list files; the synthetic drive's val is its last scene). Config keys (see ProbeConfig in
seal_train/engine/probe.py) are overridden as key=value.

Examples:
    python -m seal_train probe --checkpoint runs/pretrain/last.pt
    python -m seal_train probe --checkpoint runs/pretrain/last.pt data.path=/data/nuscenes \\
        out_dir=runs/probe-nus               # train on nuScenes train, score on val
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
    cfg = load_config(ProbeConfig, args.config, overrides)
    result = probe(cfg)
    print(result.scores.markdown())
    scored = (f"on {cfg.val_split}" if result.held_out
              else "on the frames it trained on, not held out")
    print(f"linear probe: mIoU {100 * result.scores.miou:.2f} % {scored} "
          f"({result.seconds:.0f} s)")
    print(f"  head   {result.head_path}")
    for path in result.report:
        print(f"  wrote  {path}")
    print(f"next: python -m seal_train evaluate --head {result.head_path} [--split val]")
    return 0
