"""Pretraining configuration: every key with its meaning, unit and default.

Defaults are the embedded CPU run (synthetic drive, MinkUNet18 at half width, small images) that
finishes in minutes on 2 cores; ``configs/pretrain/slidr_nuscenes.yaml`` states SLidR's recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from seal_train.pairing.dataset import PairingConfig


@dataclass(frozen=True)
class DataConfig:
    path: Path | None = None  # dataset root or bag; None = the built-in synthetic drive (cached)
    split: str = "train"  # scenes (nuScenes) or sequences (SemanticKITTI): a split name (all,
    # train, ...) or a list file; a bag has no splits. Val stays unseen, as in SLidR's protocol
    superpixels: Path | None = None  # superpixel store; None = <cache>/superpixels-<source>
    superpixel_source: str = "slic"  # slic | oracle | oracle-slic (when the store is made)
    workers: int = 1  # DataLoader worker processes per rank
    synthetic_scenes: int = 2  # built-in drive only: scenes to generate
    synthetic_frames: int = 40  # built-in drive only: frames per scene
    synthetic_seed: int = 0  # built-in drive only: seed
    cache_dir: Path | None = None  # built-in drive only; None = $SEAL_CACHE or ~/.cache/seal


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "minkunet18"  # minkunet18 | minkunet34
    width: float = 0.5  # channel multiplier (1.0 = SLidR's widths)
    grid: str = "cylindrical"  # cylindrical (rho 0.1 m, phi 1 deg, z 0.1 m) | cartesian
    voxel_size: float = 0.1  # cartesian grid only, metres
    feature_dim: int = 64  # dimension of the distilled (L2-normalised) features


@dataclass(frozen=True)
class TeacherConfig:
    name: str = "resnet50"
    weights: Path | None = None  # torchvision or MoCo-v2 file; None = random weights (warned)
    output_stride: int = 4  # 4 = SLidR (dilated); larger is cheaper on CPU
    stage: int = 2  # deepest ResNet stage kept (4 = SLidR's layer4; 2 is cheaper and, with random
    # weights, distils better on the synthetic drive: README, "CPU defaults and why")


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 0.03  # SGD; SLidR's 0.5 (batch 4) collapses the features at batch 2 (see README)
    momentum: float = 0.9
    dampening: float = 0.1
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | constant


@dataclass(frozen=True)
class PretrainConfig:
    run_dir: Path = Path("runs/pretrain")  # resolved config, TensorBoard logs, checkpoints
    seed: int = 0
    epochs: int = 2
    batch_size: int = 2  # scans per optimiser step, over all processes
    micro_batches: int = 1  # split each batch into this many loss groups (gradient accumulation)
    max_steps_per_epoch: int = 0  # 0 = the whole dataset every epoch
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    temperature: float = 0.07  # InfoNCE tau
    log_every: int = 10  # steps between log lines / TensorBoard points
    resume: bool = True  # continue from run_dir/last.pt when it exists
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    pairing: PairingConfig = field(default_factory=lambda: PairingConfig(
        image_height=112, image_width=208, min_pairs_per_image=256))
