"""Builders: config records -> device, voxel grid, backbone, image teacher.

One builder owns each component's hyperparameters, so pretraining, fine-tuning, probing and export
build the same network from the same config, and a bad name fails here with the allowed ones.
"""

from __future__ import annotations

import torch

from seal_ros.config_files import parse_enum
from seal_ros.core.minkunet import BACKBONES, MinkUNet
from seal_ros.core.voxel_grid import VoxelGrid
from seal_ros.errors import ConfigError
from seal_train.models.config import VIT_TEACHERS, Backbone, Device, ModelConfig, TeacherConfig
from seal_train.teachers import TEACHERS, Teacher

__all__ = ["build_backbone", "build_grid", "build_teacher", "resolve_device"]


def resolve_device(name: Device | str) -> torch.device:
    """The torch device of a ``device`` setting.

    Raises:
        ConfigError: ``cuda`` without a CUDA device, or not a :class:`Device` name.
    """
    device = parse_enum(Device, name, "device")
    if device is Device.AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device is Device.CUDA and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available")
    return torch.device(device.value)


def build_grid(cfg: ModelConfig) -> VoxelGrid:
    """The voxel grid ``model.grid`` (and ``model.voxel_size``) name."""
    return VoxelGrid.from_name(cfg.grid, cfg.voxel_size, setting="model.grid")


def build_backbone(cfg: ModelConfig, in_channels: int, out_channels: int | None = None
                   ) -> MinkUNet:
    """The MinkUNet ``model.backbone`` names, at ``model.width``."""
    name = parse_enum(Backbone, cfg.backbone, "model.backbone")
    return BACKBONES[name.value](in_channels=in_channels, out_channels=out_channels,
                                 width=cfg.width)


def build_teacher(cfg: TeacherConfig, feature_dim: int,
                  image_size: tuple[int, int] | None = None) -> Teacher:
    """The frozen image trunk ``teacher.name`` names, with a trainable ``feature_dim`` head.

    ``resnet50`` reads ``teacher.output_stride`` and ``teacher.stage``; the ``dinov2_*`` ViTs read
    ``image_size`` instead: the (pairing.image_height, pairing.image_width) they will see, to lay
    their position embeddings out for once (None: DINOv2's 37 x 37 grid, resampled to each image
    at every forward, to the same values).

    Raises:
        ConfigError: an unknown name, a bad weights file, or (ViTs) an image size that is not a
            multiple of the patch size.
    """
    if cfg.name not in TEACHERS:
        raise ConfigError(f"teacher.name {cfg.name!r}: expected one of {sorted(TEACHERS)}")
    builder = TEACHERS[cfg.name]
    if cfg.name in VIT_TEACHERS:
        if image_size is not None:
            cfg.check_image_size(*image_size)
        return builder(cfg.weights, feature_dim, image_size=image_size)
    return builder(cfg.weights, feature_dim, cfg.output_stride, cfg.stage)
