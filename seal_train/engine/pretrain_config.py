"""Pretraining configuration: every key with its meaning, unit and default.

Defaults are the embedded CPU run (synthetic drive, MinkUNet18 at half width, small images) that
finishes in minutes on 2 cores; ``configs/pretrain/slidr_nuscenes.yaml`` states SLidR's recipe,
``configs/pretrain/superflow_nuscenes.yaml`` SuperFlow's (DINOv2 ViT-B/14 teacher).
The ``model`` and ``teacher`` sections are the builders' records (:mod:`seal_train.models.config`).
Closed choices are ``StrEnum``s: YAML and saved configs hold their plain names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from seal_train.engine.objective_config import ObjectiveConfig, SegmentWeighting
from seal_train.models import Backbone, Device, GridKind, ModelConfig, TeacherConfig
from seal_train.pairing.dataset import PairingConfig

__all__ = ["Backbone", "DataConfig", "Device", "GridKind", "ModelConfig", "ObjectiveConfig",
           "OptimConfig", "PretrainConfig", "Schedule", "SegmentWeighting",
           "SuperpixelSourceName", "TeacherConfig"]


class SuperpixelSourceName(enum.StrEnum):
    """``data.superpixel_source``: how the store is made when it is missing (the names of
    :data:`seal_train.superpixels.sources.SOURCES`)."""

    SLIC = "slic"
    ORACLE = "oracle"
    ORACLE_SLIC = "oracle-slic"


class Schedule(enum.StrEnum):
    """``optim.schedule``: the learning rate over the run's steps."""

    COSINE = "cosine"  # lr * (1 + cos(pi * step / total)) / 2
    CONSTANT = "constant"


@dataclass(frozen=True)
class DataConfig:
    path: Path | None = None  # dataset root or bag; None = the built-in synthetic drive (cached)
    split: str = "train"  # scenes (nuScenes) or sequences (SemanticKITTI): a split name (all,
    # train, ...) or a list file; a bag has no splits. Val stays unseen, as in SLidR's protocol
    superpixels: Path | None = None  # superpixel store; None = <cache>/superpixels-<source>
    superpixel_source: SuperpixelSourceName = SuperpixelSourceName.SLIC  # slic | oracle |
    # oracle-slic (when the store is made)
    segments: Path | None = None  # LiDAR segment store of frame pairs (objective.temporal /
    # point_to_segment > 0); None = <cache>/segments-<pairs>, made on first use
    pairs: str = "next"  # frame pairs of that store: next (t, t+1) | n=K (t, t+K)
    workers: int = 1  # DataLoader worker processes per rank
    synthetic_scenes: int = 2  # built-in drive only: scenes to generate
    synthetic_frames: int = 40  # built-in drive only: frames per scene
    synthetic_seed: int = 0  # built-in drive only: seed
    cache_dir: Path | None = None  # built-in drive only; None = $SEAL_CACHE or ~/.cache/seal


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 0.03  # SGD; SLidR's 0.5 (batch 4) collapses the features at batch 2 (see README)
    momentum: float = 0.9
    dampening: float = 0.1
    weight_decay: float = 1e-4
    schedule: Schedule = Schedule.COSINE  # cosine | constant


@dataclass(frozen=True)
class PretrainConfig:
    run_dir: Path = Path("runs/pretrain")  # resolved config, TensorBoard logs, checkpoints
    seed: int = 0
    epochs: int = 2
    batch_size: int = 2  # scans per optimiser step, over all processes
    micro_batches: int = 1  # split each batch into this many loss groups (gradient accumulation)
    max_steps_per_epoch: int = 0  # 0 = the whole dataset every epoch
    device: Device = Device.AUTO  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    temperature: float = 0.07  # InfoNCE tau
    log_every: int = 10  # steps between log lines / TensorBoard points
    resume: bool = True  # continue from run_dir/last.pt (last.prev.pt when that is unreadable)
    checkpoint_every_s: float = 600.0  # seconds between mid-epoch writes of last.pt, so a kill
    # loses minutes, not an epoch (every epoch's end writes it too); 0 = epoch ends only
    checkpoint_every_steps: int = 0  # also write last.pt every N optimiser steps; 0 = off
    deterministic: bool = False  # bit-identical CPU runs for the same seed, config and thread
    # count: torch's deterministic algorithms (the backward of x[index] adds with threaded atomics,
    # whose rounding follows thread timing); no cost measured (benchmarks/RESULTS.md)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)  # loss terms, weights
    pairing: PairingConfig = field(default_factory=lambda: PairingConfig(
        image_height=112, image_width=208, min_pairs_per_image=256))  # a dinov2_* teacher needs
    # image_height and image_width that are multiples of 14 (checked when the config loads)

    def __post_init__(self) -> None:
        self.teacher.check_image_size(self.pairing.image_height, self.pairing.image_width)
