"""Few labels: fine-tuning mIoU of random-init vs distilled backbones at 1, 10 and 100 % labels.

    .venv/bin/python benchmarks/label_efficiency.py [--seeds 0 1 2] [--sources slic oracle]
        [--ratios 1% 10% 100%] [--steps 60] [--pretrain-epochs 6] [--out DIR]
        [--corruptions all --severity moderate]

Per seed: a synthetic drive (``--scenes`` scenes of ``--frames`` frames, the last scene is
validation; ``--seed`` changes the drive too), one pretraining per superpixel source
(``distill_setup.py``, as ``pretrain_quality.py``), then ``finetune`` of every backbone (random
init and each distilled one) at every label ratio. Every run gets the same budget: ``--steps``
optimiser steps (epochs = steps / steps per epoch, so 1 % is not simply trained less), the same
recipe and seed; the score is the val mIoU of the final weights (no selection on the scored
split). Targets: a distilled backbone beats random init at 1 % by >= 5 points at every seed, and
the gap shrinks as labels grow.

``--corruptions`` then scores the models fine-tuned at ``--robustness-ratio`` under the nuScenes-C
corruptions of the val scene (mCE against the random-init model, mRR).

A rerun reuses finished runs (drive, superpixels, checkpoints); run directories are what
``python -m seal_train benchmark`` collects.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import numpy as np
import yaml
from distill_setup import distil, prepare_drive

from seal_train.config import load_config
from seal_train.engine.finetune import finetune
from seal_train.engine.finetune_config import FinetuneConfig
from seal_train.engine.sampler import GlobalBatchSampler
from seal_train.evaluation.robustness import RobustnessScores
from seal_train.sources.detect import open_split
from seal_train.sources.label_splits import label_split
from seal_train.superpixels.sources import SOURCES
from seal_train.synth import SynthConfig


def steps_per_epoch(labelled: int, batch_size: int) -> int:
    return len(GlobalBatchSampler(labelled, min(batch_size, labelled), 0, 1, 0))


def run_seed(args: argparse.Namespace, seed: int, rows: list[dict]) -> dict[str, float]:
    out = args.out / f"seed-{seed}"
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    root = prepare_drive(out, args.scenes, args.frames, seed,
                         SynthConfig(lidar_azimuth_steps=args.azimuth_steps))
    timings["drive"] = time.perf_counter() - t0
    checkpoints = distil(out, root, args.sources, args.pretrain_epochs, seed, args.pretrain_set,
                         timings)
    train = open_split(root, "train", load_images=False)
    for ratio in args.ratios:
        labelled = len(label_split(train, ratio).frames)
        epochs = math.ceil(args.steps / steps_per_epoch(labelled, args.batch_size))
        for init, checkpoint in checkpoints.items():
            t0 = time.perf_counter()
            run_dir = out / f"finetune-{init}-{ratio.rstrip('%')}"
            overrides = [f"out_dir={run_dir}", f"data.path={root}", f"labels={ratio}",
                         f"epochs={epochs}", f"val_every={epochs}", f"seed={seed}",
                         f"batch_size={args.batch_size}", *args.set]
            if checkpoint is not None:
                overrides.append(f"checkpoint={checkpoint}")
            result = finetune(load_config(FinetuneConfig, overrides=overrides))
            seconds = time.perf_counter() - t0
            timings[f"finetune {init} {ratio}"] = seconds
            rows.append({"seed": seed, "init": init, "ratio": ratio, "labelled": labelled,
                         "epochs": epochs, "steps": result.steps,
                         "miou": 100 * result.last.miou, "seconds": seconds,
                         "run_dir": str(run_dir)})
            print(f"seed {seed} {init:>8} {ratio:>4}: {labelled} frames, {result.steps} steps, "
                  f"val mIoU {100 * result.last.miou:.2f} % ({seconds:.0f} s)", flush=True)
    return timings


def run_robustness(args: argparse.Namespace, seed: int, inits: list[str]
                   ) -> dict[str, RobustnessScores]:
    """The models fine-tuned at ``--robustness-ratio`` scored under the corruptions; the
    random-init model is the mCE baseline."""
    from seal_train.engine.finetune import load_finetuned
    from seal_train.engine.robustness import score_robustness
    from seal_train.robustness import parse_corruptions

    corruptions = tuple(str(c) for c in parse_corruptions(args.corruptions))
    scores: dict[str, RobustnessScores] = {}
    for init in inits:
        run_dir = args.out / f"seed-{seed}" / f"finetune-{init}-{args.robustness_ratio.rstrip('%')}"
        model = load_finetuned(run_dir / "last.pt")
        scores[init], _ = score_robustness(model, "val", corruptions, tuple(args.severity),
                                           run_dir / "robustness-val", seed,
                                           scores.get("random"), pictures=init == "random")
        print(f"seed {seed} {init:>8} robustness: mRR {100 * scores[init].mrr:.2f} %", flush=True)
    return scores


def robustness_table(by_seed: dict[int, dict[str, RobustnessScores]], inits: list[str]
                     ) -> list[str]:
    corruptions = list(next(iter(by_seed.values()))["random"].corrupted)
    lines = ["| seed | backbone | clean | mCE | mRR | " + " | ".join(corruptions) + " |",
             "|---|---|" + "---:|" * (3 + len(corruptions))]
    for seed, scores in by_seed.items():
        base = scores["random"]
        for init in inits:
            ours = scores[init]
            lines.append(f"| {seed} | {init} | {100 * ours.clean:.2f} | "
                         f"{100 * ours.mce(base):.2f} | {100 * ours.mrr:.2f} | "
                         + " | ".join(f"{100 * ours.miou(c):.2f}" for c in corruptions) + " |")
    return lines


def table(rows: list[dict], inits: list[str], ratios: list[str]) -> list[str]:
    lines = ["| seed | backbone | " + " | ".join(ratios) + " |",
             "|---|---|" + "---:|" * len(ratios)]
    score = {(r["seed"], r["init"], r["ratio"]): r["miou"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    for seed in seeds:
        for init in inits:
            lines.append(f"| {seed} | {init} | " + " | ".join(
                f"{score[seed, init, ratio]:.2f}" for ratio in ratios) + " |")
    for init in inits:
        cells = []
        for ratio in ratios:
            values = np.array([score[s, init, ratio] for s in seeds])
            cells.append(f"{values.mean():.2f} ± {values.std():.2f}")
        lines.append(f"| mean | {init} | " + " | ".join(cells) + " |")
    lines.append("")
    for init in inits[1:]:
        def gap(seed: int, ratio: str, init: str = init) -> float:
            return score[seed, init, ratio] - score[seed, "random", ratio]

        lines.append(f"{init} - random (points): " + "; ".join(
            f"seed {s}: " + ", ".join(f"{ratio} {gap(s, ratio):+.2f}" for ratio in ratios)
            for s in seeds))
        first = ratios[0]
        gaps = [gap(s, first) for s in seeds]
        shrinks = all(gap(s, ratios[-1]) < gap(s, first) for s in seeds)
        lines.append(f"  target {init} >= random + 5 at {first} at every seed: "
                     f"{'met' if min(gaps) >= 5 else 'NOT met'} (min {min(gaps):+.2f}); "
                     f"gap at {ratios[-1]} below the gap at {first} at every seed: "
                     f"{'met' if shrinks else 'NOT met'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--azimuth-steps", type=int, default=544,
                        help="LiDAR firings per revolution (default 544: ~17k points per scan)")
    parser.add_argument("--sources", nargs="+", choices=sorted(SOURCES), default=["slic"])
    parser.add_argument("--pretrain-epochs", type=int, default=6)
    parser.add_argument("--ratios", nargs="+", default=["1%", "10%", "100%"])
    parser.add_argument("--steps", type=int, default=60, help="optimiser steps per fine-tuning")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/label_efficiency"))
    parser.add_argument("--set", nargs="*", default=[], metavar="key=value",
                        help="extra fine-tuning overrides for every run")
    parser.add_argument("--pretrain-set", nargs="*", default=[], metavar="key=value",
                        help="extra pretraining overrides")
    parser.add_argument("--corruptions", default=None, metavar="NAME[,NAME]|all",
                        help="score the --robustness-ratio models under these corruptions")
    parser.add_argument("--severity", nargs="+", default=["light", "moderate", "heavy"])
    parser.add_argument("--robustness-ratio", default="100%")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    rows: list[dict] = []
    timings = {seed: run_seed(args, seed, rows) for seed in args.seeds}
    inits = ["random", *args.sources]
    lines = table(rows, inits, args.ratios)
    if args.corruptions:
        by_seed = {seed: run_robustness(args, seed, inits) for seed in args.seeds}
        lines += ["", f"Robustness of the models fine-tuned at {args.robustness_ratio} on the val "
                  f"scene (severities {', '.join(args.severity)}; mIoU, mCE against random init "
                  f"and mRR in %):", "", *robustness_table(by_seed, inits)]
    (args.out / "results.yaml").write_text(yaml.safe_dump({"rows": rows}, sort_keys=False))
    print(f"\nFine-tuning on the synthetic drive: {args.scenes - 1} train scenes, 1 val scene, "
          f"{args.frames} frames each, {args.azimuth_steps} azimuth steps; pretraining "
          f"{args.pretrain_epochs} epochs; every fine-tuning {args.steps} steps of batch "
          f"{args.batch_size}. Val mIoU (%) of the final weights:\n")
    print("\n".join(lines))
    for seed, spent in timings.items():
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.0f} s" for k, v in spent.items()))
    minutes = (time.perf_counter() - start) / 60
    print(f"total {minutes:.1f} min; rows in {args.out / 'results.yaml'}")


if __name__ == "__main__":
    main()
