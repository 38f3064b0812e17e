"""The config records the builders read: device, backbone, voxel grid, feature size, teacher.

Torch-free, so configs load (and ``--help`` runs) without importing the networks; the builders
that turn them into a device and modules are in :mod:`seal_train.models.builders`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from seal_ros.core.voxel_grid import GridKind

__all__ = ["Backbone", "Device", "GridKind", "ModelConfig", "TeacherConfig"]


class Device(enum.StrEnum):
    """``device``: where a run computes."""

    AUTO = "auto"  # CUDA when available, else the CPU
    CPU = "cpu"
    CUDA = "cuda"


class Backbone(enum.StrEnum):
    """``model.backbone``: the MinkUNet depth (keys of :data:`seal_ros.core.minkunet.BACKBONES`)."""

    MINKUNET18 = "minkunet18"
    MINKUNET34 = "minkunet34"


@dataclass(frozen=True)
class ModelConfig:
    backbone: Backbone = Backbone.MINKUNET18  # minkunet18 | minkunet34
    width: float = 0.5  # channel multiplier (1.0 = SLidR's widths)
    grid: GridKind = GridKind.CYLINDRICAL  # cylindrical (rho 0.1 m, phi 1 deg, z 0.1 m) |
    # cartesian
    voxel_size: float = 0.1  # cartesian grid only, metres
    feature_dim: int = 64  # dimension of the distilled (L2-normalised) features


@dataclass(frozen=True)
class TeacherConfig:
    name: str = "resnet50"  # a key of seal_train.teachers.TEACHERS
    weights: Path | None = None  # torchvision or MoCo-v2 file; None = random weights (warned)
    output_stride: int = 4  # 4 = SLidR (dilated); larger is cheaper on CPU
    stage: int = 2  # deepest ResNet stage kept (4 = SLidR's layer4; 2 is cheaper and, with random
    # weights, distils better on the synthetic drive: README, "CPU defaults and why")
