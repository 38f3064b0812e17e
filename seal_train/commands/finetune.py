"""``finetune``: train backbone + linear head on few labels (SLidR's protocol).

Without --checkpoint it fine-tunes a randomly initialised backbone (the papers' baseline). The
labelled frames are a label-efficient split of ``train_split``: --labels 1% | 5% | 10% | 25% |
100% (nuScenes: every N-th train scene; SemanticKITTI, bags and the synthetic drive: every N-th
frame) or a file of frame ids; they are listed in <out_dir>/labelled_frames.txt. Every
``val_every`` epochs ``val_split`` is scored; best.pt keeps the best val mIoU, last.pt the latest
epoch (a rerun resumes from it). Config keys (see FinetuneConfig in
seal_train/engine/finetune_config.py) are overridden as key=value.

Examples:
    python -m seal_train finetune --labels 10%                  # random init, embedded drive
    python -m seal_train finetune --checkpoint runs/pretrain/last.pt --labels 10%
    python -m seal_train finetune --config seal_train/configs/finetune/nuscenes_1.yaml \\
        --checkpoint runs/slidr/last.pt data.path=/data/nuscenes out_dir=runs/ft-nus-1
    python -m seal_train evaluate --checkpoint runs/finetune/best.pt --split val
    python -m seal_train export --checkpoint runs/finetune/best.pt --out models/seal-ft
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seal_train.config import load_config


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="fine-tune backbone + head on few labels",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="pretraining checkpoint (default: random-init backbone)")
    parser.add_argument("--labels", default=None, metavar="RATIO|FILE",
                        help="1%%, 5%%, 10%%, 25%%, 100%% or a file of frame ids (default 1%%)")
    parser.add_argument("--config", type=Path, default=None, help="YAML config file")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. epochs=50 lr_head=2.0")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seal_train.engine.finetune import finetune
    from seal_train.engine.finetune_config import FinetuneConfig

    overrides = list(args.overrides)
    if args.checkpoint is not None:
        overrides.append(f"checkpoint={args.checkpoint}")
    if args.labels is not None:
        overrides.append(f"labels={args.labels}")
    cfg = load_config(FinetuneConfig, args.config, overrides)
    result = finetune(cfg)
    print(result.best.markdown())
    print(f"fine-tuned {result.epochs} epochs ({result.steps} steps) on {result.labelled} "
          f"labelled frames ({result.rule}) in {result.seconds:.0f} s, "
          f"{result.samples_per_s:.2f} samples/s")
    print(f"  val mIoU {100 * result.best.miou:.2f} % at epoch {result.best_epoch} (best.pt), "
          f"{100 * result.last.miou:.2f} % at the end (last.pt), on {cfg.val_split}")
    print(f"  best   {result.best_path}")
    print(f"  last   {result.last_path}")
    print(f"  frames {result.labelled_frames}")
    for path in result.report:
        print(f"  wrote  {path}")
    print("next:")
    print(f"  python -m seal_train export --checkpoint {result.best_path} --out models/seal-ft")
    print(f"  python -m seal_train evaluate --checkpoint {result.best_path} [--split val]")
    return 0
