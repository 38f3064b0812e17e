"""``evaluate``: mIoU of a probe head or a fine-tuned checkpoint on a split, SLidR's protocol;
with ``--corruption``, its robustness under nuScenes-C's corruptions (Robo3D's protocol).

One confusion matrix over the whole split, full-resolution points, ignored class masked at
prediction; writes scores.md, scores.yaml, iou_per_class.png and confusion_matrix.png.

``--corruption fog|wet_ground|snow|motion_blur|beam_missing|crosstalk|incomplete_echo|
cross_sensor|all`` corrupts each scan before inference (deterministic per frame and
``--corruption-seed``; injected points are not scored) at each ``--severity`` (default all
three), and writes robustness.yaml / robustness.md (mIoU per corruption and severity, RR, mRR;
CE and mCE against ``--baseline``, the robustness.yaml of e.g. the random-init model of the same
protocol) and pictures/<corruption>-<severity>.png of the split's first scan clean and corrupted.
``--corruption-data`` reads a released nuScenes-C copy instead of corrupting on the fly.

Examples:
    python -m seal_train evaluate --head runs/probe/probe.pt --split val
    python -m seal_train evaluate --checkpoint runs/finetune/best.pt --split val
    python -m seal_train evaluate --checkpoint runs/ft-random/best.pt --corruption all
    python -m seal_train evaluate --checkpoint runs/finetune/best.pt --corruption all \\
        --baseline runs/ft-random/robustness-val
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seal_train.engine.scoring import ScoredModel

SEVERITIES = ("light", "moderate", "heavy")


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="evaluate a segmentation head or fine-tuned model",
                            description=__doc__,
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
                        help="report folder (default: next to the file, eval-<split>, or "
                             "robustness-<split> with --corruption)")
    parser.add_argument("--corruption", default=None, metavar="NAME[,NAME]|all",
                        help="score under these nuScenes-C corruptions (comma-separated, or all)")
    parser.add_argument("--severity", nargs="+", default=list(SEVERITIES), choices=SEVERITIES,
                        help="severities to score (default: all three, as mCE needs)")
    parser.add_argument("--corruption-seed", type=int, default=0,
                        help="seed of the on-the-fly corruptions (default 0)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="robustness.yaml (or its folder) of the baseline model for CE/mCE")
    parser.add_argument("--corruption-data", type=Path, default=None,
                        help="root of a released nuScenes-C copy (instead of on the fly)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seal_train.engine.finetune import load_finetuned
    from seal_train.engine.probe import load_probe
    from seal_train.evaluation import write_report

    scored = args.head or args.checkpoint
    load = load_probe if args.head is not None else load_finetuned
    if args.corruption is not None:
        return _robustness(args, scored, load)
    model = load(scored, args.data)
    scores = model.score(model.frames(args.split))
    out = args.out or scored.parent / f"eval-{Path(args.split).stem}"
    written = write_report(scores, out, f"Evaluation of {scored} on {args.split}")
    print(scores.markdown())
    for path in written:
        print(f"wrote {path}")
    return 0


def _robustness(args: argparse.Namespace, scored: Path,
                load: Callable[[Path, Path | None], ScoredModel]) -> int:
    from seal_ros.errors import ConfigError
    from seal_train.engine.robustness import score_robustness
    from seal_train.evaluation.robustness import read_robustness
    from seal_train.robustness import parse_corruptions

    corruptions = tuple(str(c) for c in parse_corruptions(args.corruption))
    baseline = read_robustness(args.baseline) if args.baseline is not None else None
    if baseline is not None:  # before any scoring: CE needs the same cells
        missing = [f"{c} {s}" for c in corruptions for s in args.severity
                   if s not in baseline.corrupted.get(c, {})]
        if missing:
            raise ConfigError(f"--baseline {args.baseline}: has no score for {', '.join(missing)}"
                              f"; score the baseline under the same corruptions and severities")
    model = load(scored, args.data)
    out = args.out or scored.parent / f"robustness-{Path(args.split).stem}"
    scores, written = score_robustness(model, args.split, corruptions, tuple(args.severity), out,
                                       args.corruption_seed, baseline, args.corruption_data)
    print(scores.markdown(baseline))
    for path in written:
        print(f"wrote {path}")
    return 0
