"""What the pretraining benchmarks share: a synthetic drive split by scene, superpixel stores and
one distilled backbone per superpixel source (same data, budget and seed for every source).

Used by ``pretrain_quality.py`` (linear probing) and ``label_efficiency.py`` (fine-tuning).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from seal_train.config import load_config
from seal_train.engine.pretrain import pretrain
from seal_train.engine.pretrain_config import PretrainConfig
from seal_train.sources.detect import open_split
from seal_train.sources.splits import SPLIT_DIR, write_split_files
from seal_train.superpixels.generate import generate
from seal_train.superpixels.sources import SlicSource, make_source
from seal_train.synth import SynthConfig
from seal_train.synth.formats import write_drive


def prepare_drive(out: Path, scenes: int, frames: int, seed: int,
                  config: SynthConfig | None = None) -> Path:
    """``out/drive/nuscenes``: ``scenes`` x ``frames``, the last scene is ``val`` (reused when
    present)."""
    root = out / "drive" / "nuscenes"
    if not root.exists():
        write_drive(out / "drive", scenes=scenes, frames=frames, seed=seed,
                    formats=("nuscenes",), config=config)
    if not (root / SPLIT_DIR).is_dir():  # a drive written before the writer made split lists
        write_split_files(root, [f"scene-{i:04d}" for i in range(scenes)])
    return root


def distil(out: Path, root: Path, sources: list[str], epochs: int, seed: int,
           overrides: list[str], timings: dict[str, float],
           slic: SlicSource | None = None) -> dict[str, Path | None]:
    """One pretraining run per superpixel source on ``root``'s train split; returns
    ``{"random": None, source: checkpoint, ...}`` and adds the seconds of each step to
    ``timings``."""
    train_frames = open_split(root, "train")
    slic = slic or SlicSource()
    checkpoints: dict[str, Path | None] = {"random": None}
    for name in sources:
        t0 = time.perf_counter()
        store = out / f"superpixels-{name}"
        generate(train_frames, make_source(name, slic), store, workers=os.cpu_count() or 1)
        timings[f"superpixels {name}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cfg = load_config(PretrainConfig, overrides=[
            f"run_dir={out / f'pretrain-{name}'}", f"data.path={root}", "data.split=train",
            f"data.superpixels={store}", f"epochs={epochs}", f"seed={seed}", *overrides])
        checkpoints[name] = pretrain(cfg).checkpoint
        timings[f"pretrain {name}"] = time.perf_counter() - t0
    return checkpoints
