"""Does distillation help? Linear-probe mIoU of random-init vs SLIC- vs oracle-distilled backbones.

    .venv/bin/python benchmarks/pretrain_quality.py [--scenes 3 --frames 30 --epochs 8 --out DIR]
        [--sources slic oracle oracle-slic]

The synthetic drive is split by scene (the last scene is validation). The pretraining runs share
data, budget (epochs, batch, lr) and seeds and differ only in their superpixels: SLIC (SLidR's
defaults), the renderer's instance masks (``oracle``: a perfect class-agnostic VFM) and, when asked
for, those masks cut along SLIC's superpixels (``oracle-slic``: perfect boundaries at SLIC's
granularity, which tells segment quality from segment count). The teacher is
PretrainConfig's default (random-weight ResNet-50 to layer2: no image weights are shipped), so the
gain measures what distilling superpixel-pooled features of a random image network teaches;
``--set teacher.weights=FILE teacher.stage=2`` with the file of ``benchmarks/semantic_teacher.py``
(a trunk trained on the drive's labels: a diagnostic) measures the same with a teacher that knows
the classes.
Every backbone is then probed the same way (frozen, eval mode, linear head on the train scenes,
scored on the val scene). Prints a markdown table; targets: SLIC >= random + 10 mIoU points,
oracle >= SLIC.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from distill_setup import RUN_HELP, distil, parse_run, prepare_drive

from seal_train.config import load_config
from seal_train.engine.probe import ProbeConfig, probe
from seal_train.superpixels.sources import SlicSource


def _run(text: str) -> str:
    parse_run(text)  # refuse a bad entry before any run starts
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=8, help="pretraining epochs per run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/pretrain_quality"))
    parser.add_argument("--sources", nargs="+", default=["slic", "oracle"], type=_run,
                        help="pretraining runs, one each (default: slic oracle; oracle-slic adds "
                             "~9 min; masks-instance / masks-semantic import the oracle's masks "
                             f"as a VFM's PNGs); each is {RUN_HELP}")
    parser.add_argument("--slic-segments", type=int, default=SlicSource.n_segments,
                        help="SLIC's target segment count for slic and oracle-slic (default: "
                             "SLidR's 150)")
    parser.add_argument("--set", nargs="*", default=[], metavar="key=value",
                        help="extra pretraining config overrides for both runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    out = args.out
    timings = {"drive": 0.0}
    root = prepare_drive(out, args.scenes, args.frames, args.seed)
    timings["drive"] = time.perf_counter() - start
    distilled = distil(out, root, args.sources, args.epochs, args.seed, ["resume=false", *args.set],
                       timings, SlicSource(n_segments=args.slic_segments))
    checkpoints = {("random init" if name == "random" else f"{name}-distilled"): path
                   for name, path in distilled.items()}

    rows = []
    for name, checkpoint in checkpoints.items():
        t0 = time.perf_counter()
        overrides = [f"out_dir={out / ('probe-' + name.split()[0].removesuffix('-distilled'))}",
                     f"data.path={root}", "train_split=train", "val_split=val",
                     f"seed={args.seed}"]
        if checkpoint is not None:
            overrides.append(f"checkpoint={checkpoint}")
        result = probe(load_config(ProbeConfig, overrides=overrides))
        timings[f"probe {name}"] = time.perf_counter() - t0
        rows.append((name, 100 * result.scores.miou, 100 * result.scores.accuracy))
    scores = {name.removesuffix("-distilled"): miou for name, miou, _ in rows}

    total = time.perf_counter() - start
    print(f"\nLinear probing on the synthetic drive: {args.scenes - 1} train scenes, 1 val scene, "
          f"{args.frames} frames each; pretraining {args.epochs} epochs, seed {args.seed}\n")
    print("| backbone | probe mIoU (%) | accuracy (%) |\n|---|---:|---:|")
    for name, miou, acc in rows:
        print(f"| {name} | {miou:.2f} | {acc:.2f} |")
    print()
    if "slic" in scores:
        gain = scores["slic"] - scores["random init"]
        print(f"SLIC - random = {gain:+.2f} points (target >= +10): "
              f"{'met' if gain >= 10 else 'NOT met'}")
        for name in scores:
            if name not in ("random init", "slic"):
                gain = scores[name] - scores["slic"]
                print(f"{name} - SLIC = {gain:+.2f} points (target >= 0): "
                      f"{'met' if gain >= 0 else 'NOT met'}")
    print(f"total {total / 60:.1f} min (target <= 30 min): "
          + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))


if __name__ == "__main__":
    main()
