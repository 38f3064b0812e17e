"""The config records the builders read: device, backbone, voxel grid, feature size, teacher.

Torch-free, so configs load (and ``--help`` runs) without importing the networks; the builders
that turn them into a device and modules are in :mod:`seal_train.models.builders`.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from pathlib import Path

from seal_ros.core.voxel_grid import GridKind
from seal_ros.errors import ConfigError

__all__ = ["RESNET_ONLY", "VIT_TEACHERS", "Backbone", "Device", "GridKind", "ModelConfig",
           "TeacherConfig"]


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


VIT_TEACHERS = {"dinov2_vits14": 14, "dinov2_vitb14": 14, "dinov2_vitl14": 14}
"""``teacher.name`` of the ViT teachers -> patch size in pixels: their input images' height and
width must be multiples of it (the keys of :data:`seal_train.teachers.DINOV2_ARCHS`)."""
RESNET_ONLY = ("output_stride", "stage")
"""``teacher`` fields that only ``resnet50`` reads; a ViT teacher refuses values other than the
defaults, so a copied ResNet setting never silently does nothing."""


@dataclass(frozen=True)
class TeacherConfig:
    """``teacher``: the frozen image trunk and its weights.

    ``name`` and ``weights`` apply to every teacher; ``output_stride`` and ``stage`` to
    ``resnet50`` only. The ``dinov2_*`` ViTs have no such choice: features are the last block's
    pre-norm patch tokens at stride 14 (the patch size), so ``pairing.image_height`` and
    ``pairing.image_width`` must be multiples of 14; setting a ResNet-only field is an error.
    """

    name: str = "resnet50"  # resnet50 | dinov2_vits14 | dinov2_vitb14 | dinov2_vitl14
    # (the keys of seal_train.teachers.TEACHERS)
    weights: Path | None = None  # a file you provide, never downloaded; None = random weights
    # (warned). resnet50: torchvision or MoCo-v2 file. dinov2_*: the official release
    # (dinov2_vitb14_pretrain.pth) or a timm state dict (.pth / .safetensors)
    output_stride: int = 4  # resnet50 only: 4 = SLidR (dilated); larger is cheaper on CPU
    stage: int = 2  # resnet50 only: deepest ResNet stage kept (4 = SLidR's layer4; 2 is cheaper
    # and, with random weights, distils better on the synthetic drive: README, "CPU defaults and
    # why")

    def __post_init__(self) -> None:
        if self.name not in VIT_TEACHERS:
            return
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in RESNET_ONLY and value != f.default:
                raise ConfigError(
                    f"teacher.{f.name}={value} applies to resnet50 only; teacher.name={self.name} "
                    f"uses its last block's patch tokens at stride {VIT_TEACHERS[self.name]}: "
                    f"remove teacher.{f.name}")

    @property
    def image_multiple(self) -> int:
        """What image heights and widths must be multiples of: the ViT patch size, else 1."""
        return VIT_TEACHERS.get(self.name, 1)

    def check_image_size(self, height: int, width: int,
                         keys: tuple[str, str] = ("pairing.image_height", "pairing.image_width")
                         ) -> None:
        """Raise ConfigError naming ``keys`` when this teacher cannot take height x width images."""
        step = self.image_multiple
        bad = [f"{key}={size} (use {_multiples(size, step)})"
               for key, size in zip(keys, (height, width), strict=True) if size % step]
        if bad:
            raise ConfigError(f"teacher.name={self.name} needs image sizes that are multiples of "
                              f"its patch size {step}: {', '.join(bad)}")


def _multiples(size: int, step: int) -> str:
    """The multiples of ``step`` nearest ``size``, for messages ("210 or 196")."""
    below = size // step * step
    return f"{below + step} or {below}" if below else str(step)
