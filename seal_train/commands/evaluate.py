"""``evaluate``: mIoU of a probe head or a fine-tuned checkpoint on a split, SLidR's protocol.

One confusion matrix over the whole split, full-resolution points, ignored class masked at
prediction; writes scores.md, iou_per_class.png and confusion_matrix.png.

Examples:
    python -m seal_train evaluate --head runs/probe/probe.pt --split val
    python -m seal_train evaluate --checkpoint runs/finetune/best.pt --split val
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="evaluate a segmentation head", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--head", type=Path, help="probe.pt from `probe`")
    which.add_argument("--checkpoint", type=Path,
                       help="best.pt / last.pt from `finetune` (backbone + head)")
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset (default: the one the head was trained on)")
    parser.add_argument("--split", default="val",
                        help="split name or scene/sequence-list file (default: val)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report folder (default: next to the file, eval-<split>)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seal_train.engine.finetune import evaluate_checkpoint
    from seal_train.engine.probe import evaluate

    scored = args.head or args.checkpoint
    out = args.out or scored.parent / f"eval-{Path(args.split).stem}"
    score = evaluate if args.head is not None else evaluate_checkpoint
    scores, written = score(scored, args.data, args.split, out)
    print(scores.markdown())
    for path in written:
        print(f"wrote {path}")
    return 0
