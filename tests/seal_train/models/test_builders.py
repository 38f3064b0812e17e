"""Builders: one per component, each name checked with the allowed ones in the message."""

from __future__ import annotations

import pytest
import torch

from seal_ros.core.voxel_grid import VoxelGrid
from seal_ros.errors import ConfigError
from seal_train.models import (
    Backbone,
    GridKind,
    ModelConfig,
    TeacherConfig,
    build_backbone,
    build_grid,
    build_teacher,
    resolve_device,
)


@pytest.mark.parametrize("kind", list(GridKind))
def test_build_grid_is_the_named_grid(kind: GridKind) -> None:
    assert build_grid(ModelConfig(grid=kind, voxel_size=0.3)) == VoxelGrid.from_name(kind, 0.3)


@pytest.mark.parametrize("name", list(Backbone))
def test_build_backbone_builds_each_depth(name: Backbone) -> None:
    net = build_backbone(ModelConfig(backbone=name, width=0.125), in_channels=2, out_channels=5)
    blocks = sum(1 for m in net.modules() if type(m).__name__ == "BasicBlock")
    assert blocks == {Backbone.MINKUNET18: 16, Backbone.MINKUNET34: 23}[name]  # (2,3,4,6,2,2,2,2)
    assert net.out_channels == 5


def test_bad_names_fail_with_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"model.backbone: expected one of minkunet18, "
                                          r"minkunet34, got 'minkunet50'"):
        build_backbone(ModelConfig(backbone="minkunet50"), in_channels=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"model.grid: expected one of cylindrical, cartesian"):
        build_grid(ModelConfig(grid="polar"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"teacher.name 'vit': expected one of \['dinov2_vitb14', "
                                          r"'dinov2_vitl14', 'dinov2_vits14', 'resnet50'\]"):
        build_teacher(TeacherConfig(name="vit"), feature_dim=8)
    with pytest.raises(ConfigError, match=r"device: expected one of auto, cpu, cuda, got 'tpu'"):
        resolve_device("tpu")


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            resolve_device("cuda")
