"""What the pretraining benchmarks share: a synthetic drive split by scene, superpixel stores and
one distilled backbone per superpixel source (same data, budget and seed for every source).

Besides the superpixel sources, ``masks-instance`` and ``masks-semantic`` import the drive's oracle
masks the way a VFM's output is imported (``--source masks``): instance ids as 16-bit PNGs (the
same partition as ``oracle``), or one class per pixel as 8-bit PNGs (SuperFlow's semantic maps:
every instance of a class merged). An instance's class is the majority train label of its LiDAR
points in its scene; an instance no point hits (and the sky) is void, so those pixels pair with
no point and lose nothing the loss sees.

Used by ``pretrain_quality.py`` (linear probing) and ``label_efficiency.py`` (fine-tuning).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from seal_train.config import load_config
from seal_train.engine.pretrain import pretrain
from seal_train.engine.pretrain_config import PretrainConfig
from seal_train.sources.detect import FrameSource, open_split
from seal_train.sources.splits import SPLIT_DIR, write_split_files
from seal_train.superpixels.generate import generate
from seal_train.superpixels.imported import ImportedMasksSource, MaskFormat
from seal_train.superpixels.sources import SOURCES, SlicSource, make_source
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


ORACLE_MASKS = {"masks-instance": MaskFormat.INSTANCE_PNG,
                "masks-semantic": MaskFormat.SEMANTIC_PNG}
"""Benchmark source names that import the oracle's masks, and the format they are written in."""


def instance_classes(frames: FrameSource) -> dict[str, np.ndarray]:
    """Per scene, the majority train class of every instance id its LiDAR points carry (0 for
    instances no point hits)."""
    pairs: dict[str, list[np.ndarray]] = {}
    for index in range(len(frames)):
        frame = frames[index]
        if frame.instances is None:
            raise SystemExit(f"{frame.frame_id}: no per-point instances; the oracle masks need "
                             f"the synthetic drive")
        hit = frame.instances > 0
        pairs.setdefault(frame.sequence, []).append(
            np.stack([frame.instances[hit].astype(np.int64), frame.train_labels()[hit]]))
    luts = {}
    for sequence, chunks in pairs.items():
        instance, label = np.concatenate(chunks, axis=1)
        classes = int(label.max()) + 1
        votes = np.bincount(instance * classes + label,
                            minlength=(int(instance.max()) + 1) * classes)
        luts[sequence] = votes.reshape(-1, classes).argmax(axis=1)  # no votes: argmax 0, void
    return luts


def write_oracle_masks(frames: FrameSource, folder: Path, name: str) -> ImportedMasksSource:
    """The oracle's masks of ``frames`` as a VFM would write them (``name`` in
    :data:`ORACLE_MASKS`), under ``folder/<image_id>.png``; reused when present."""
    fmt = ORACLE_MASKS[name]
    done = folder / "complete"
    if not done.exists():
        luts = instance_classes(frames) if fmt is MaskFormat.SEMANTIC_PNG else {}
        for index in tqdm(range(len(frames)), desc=f"write {name}", unit="frame"):
            frame = frames[index]
            for camera in frame.cameras:
                if camera.instance_mask is None:
                    raise SystemExit(f"{camera.image_id}: no instance mask to write")
                mask = camera.instance_mask.astype(np.int64)
                if fmt is MaskFormat.SEMANTIC_PNG:
                    lut = luts[frame.sequence]
                    mask = np.where(mask < len(lut), lut[np.minimum(mask, len(lut) - 1)], 0)
                path = folder / f"{camera.image_id.strip('/')}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                dtype = np.uint8 if fmt is MaskFormat.SEMANTIC_PNG else np.uint16
                if not cv2.imwrite(str(path), mask.astype(dtype)):
                    raise SystemExit(f"{path}: could not write")
        done.touch()
    return ImportedMasksSource(folder, fmt)


RUN_HELP = ("a superpixel source name, or LABEL=SOURCE:key=value,key=value for a run with its "
            "own pretraining overrides (e.g. oracle+points=oracle:objective.weighting=points)")


def parse_run(text: str) -> tuple[str, str, list[str]]:
    """``SOURCE`` or ``LABEL=SOURCE[:key=value,...]`` -> (label, source, overrides)."""
    label, _, rest = text.partition("=") if "=" in text.split(":")[0] else (text, "", text)
    source, _, extra = rest.partition(":")
    if extra and label == text:
        raise SystemExit(f"run {text!r}: a run with overrides needs a label ({RUN_HELP})")
    if source not in {*SOURCES, *ORACLE_MASKS}:
        raise SystemExit(f"run {text!r}: unknown superpixel source {source!r}; expected one of "
                         f"{sorted({*SOURCES, *ORACLE_MASKS})} ({RUN_HELP})")
    return label, source, [item for item in extra.split(",") if item]


def distil(out: Path, root: Path, runs: list[str], epochs: int, seed: int,
           overrides: list[str], timings: dict[str, float],
           slic: SlicSource | None = None) -> dict[str, Path | None]:
    """One pretraining run per entry of ``runs`` (:func:`parse_run`) on ``root``'s train split;
    returns ``{"random": None, label: checkpoint, ...}`` and adds the seconds of each step to
    ``timings``. Runs of one source share its superpixel store."""
    train_frames = open_split(root, "train")
    slic = slic or SlicSource()
    checkpoints: dict[str, Path | None] = {"random": None}
    for label, name, extra in map(parse_run, runs):
        t0 = time.perf_counter()
        store = out / f"superpixels-{name}"
        source = (write_oracle_masks(train_frames, out / name, name) if name in ORACLE_MASKS
                  else make_source(name, slic))
        generate(train_frames, source, store, workers=os.cpu_count() or 1)
        timings[f"superpixels {label}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cfg = load_config(PretrainConfig, overrides=[
            f"run_dir={out / f'pretrain-{label}'}", f"data.path={root}", "data.split=train",
            f"data.superpixels={store}", f"epochs={epochs}", f"seed={seed}", *overrides, *extra])
        checkpoints[label] = pretrain(cfg).checkpoint
        timings[f"pretrain {label}"] = time.perf_counter() - t0
    return checkpoints
