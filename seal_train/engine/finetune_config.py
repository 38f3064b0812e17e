"""Fine-tuning configuration: every key with its meaning, unit and default.

Defaults are the embedded CPU run (synthetic drive, MinkUNet18 at half width, batch 2, a short
schedule) that finishes in minutes on 2 cores; ``configs/finetune/*.yaml`` state SLidR's recipes
(nuScenes 1/5/10/25/100 %, SemanticKITTI 1 %). Torch-free, so ``--help`` and config errors come
before any heavy import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from seal_train.engine.pretrain_config import DataConfig, Schedule
from seal_train.models.config import Device, ModelConfig
from seal_train.sources.label_splits import LabelUnit

__all__ = ["AugmentConfig", "FinetuneConfig"]


@dataclass(frozen=True)
class AugmentConfig:
    """Point augmentations of the labelled training scans (SLidR: rotation, flips; SuperFlow
    adds the scaling)."""

    rotate: bool = True  # rotation about z by U(0, 2 pi)
    flip: bool = True  # flip x and y, each with probability 0.5
    scale: tuple[float, float] = (0.95, 1.05)  # isotropic factor U(low, high); (1, 1) = off


@dataclass(frozen=True)
class FinetuneConfig:
    checkpoint: Path | None = None  # pretraining checkpoint; None = random init (the baseline)
    labels: str = "1%"  # 1% | 5% | 10% | 25% | 100% (SLidR's rules) or a file of frame ids
    label_unit: LabelUnit = LabelUnit.AUTO  # auto | scene | frame: what a ratio keeps every
    # N-th of (auto: scenes on nuScenes, frames on SemanticKITTI, bags and the synthetic drive)
    out_dir: Path = Path("runs/finetune")  # config, labelled_frames.txt, last.pt, best.pt, tb/,
    # scores.md and PNGs
    data: DataConfig = field(default_factory=DataConfig)  # data.path None = the synthetic drive
    train_split: str = "train"  # split name or list file the labelled frames are taken from
    val_split: str = "val"  # scored split; the synthetic drive's val is its last scene
    epochs: int = 20
    batch_size: int = 2  # scans per optimiser step, over all processes (lowered, with a
    # warning, to the labelled frames when there are fewer)
    lr_backbone: float = 0.05  # SGD; 0.05 / 0.05 is SLidR's random-init recipe (the default
    # run's); from a pretrained checkpoint SLidR uses 0.02 / 2.0 (configs/finetune/*.yaml)
    lr_head: float = 0.05  # SGD, the linear head
    momentum: float = 0.9
    dampening: float = 0.1
    weight_decay: float = 1e-4
    schedule: Schedule = Schedule.COSINE  # cosine | constant, per step over the run
    ce_weight: float = 1.0  # cross-entropy (ignore class 0 left out)
    lovasz_weight: float = 1.0  # Lovasz-softmax on the softmax probabilities
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    val_every: int = 10  # epochs between validations (the last epoch is always validated)
    log_every: int = 10  # steps between log lines / TensorBoard points
    resume: bool = True  # continue from out_dir/last.pt (last.prev.pt when that is unreadable)
    checkpoint_every_s: float = 600.0  # seconds between mid-epoch writes of last.pt, so a kill
    # loses minutes, not an epoch (every epoch's end writes it too); 0 = epoch ends only
    checkpoint_every_steps: int = 0  # also write last.pt every N optimiser steps; 0 = off
    deterministic: bool = False  # bit-identical CPU runs for the same seed, config and thread
    # count: torch's deterministic algorithms (the backward of x[index] adds with threaded atomics,
    # whose rounding follows thread timing); no cost measured (benchmarks/RESULTS.md)
    device: Device = Device.AUTO  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    seed: int = 0
    model: ModelConfig | None = None  # None: the checkpoint's, or ModelConfig() without one;
    # set with a checkpoint it must match the checkpoint's
    point_features: tuple[str, ...] | None = None  # None: the checkpoint's, or (intensity,)
