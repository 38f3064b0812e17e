"""``pretrain``: distil a frozen image teacher into a sparse 3D backbone, without labels.

With no dataset given it runs the embedded default: it generates (or reuses) the synthetic drive in
the cache ($SEAL_CACHE or ~/.cache/seal), makes SLIC superpixels, and pretrains a short schedule.
Keys of the config (see seal_train/engine/pretrain_config.py and, for model.* and teacher.*,
seal_train/models/config.py) are overridden as key=value.

Examples:
    python -m seal_train pretrain
    python -m seal_train pretrain --config seal_train/configs/pretrain/slidr_nuscenes.yaml \\
        data.path=/data/nuscenes data.superpixels=/data/sp/slic run_dir=runs/slidr
    torchrun --nproc_per_node 4 -m seal_train pretrain data.path=/data/nuscenes batch_size=16
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seal_train.config import load_config


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="self-supervised pretraining", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="YAML config file")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. epochs=10 optim.lr=0.1")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seal_train.engine.pretrain import pretrain
    from seal_train.engine.pretrain_config import PretrainConfig

    cfg = load_config(PretrainConfig, args.config, args.overrides)
    result = pretrain(cfg)
    print(f"pretrained {result.epochs} epochs ({result.steps} steps) in {result.run_dir}")
    print(f"  checkpoint      {result.checkpoint}")
    print(f"  last loss       {result.last_loss:.4f}")
    if result.report is not None:
        print(f"  report          {result.report}")
    print(f"  speed           {result.samples_per_s:.2f} samples/s, "
          f"{100 * result.data_wait_share:.0f} % of step time waiting for data")
    print("next:")
    print(f"  python -m seal_train probe --checkpoint {result.checkpoint}")
    return 0
