"""Frozen image teachers: images -> per-pixel unit-norm features for distillation."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeAlias

from seal_train.teachers.dinov2 import (
    DINOV2_ARCHS,
    DinoV2Teacher,
    build_dinov2_teacher,
    build_dinov2_trunk,
    load_dinov2_state,
    load_dinov2_weights,
)
from seal_train.teachers.resnet import ResNetTeacher, build_resnet50_teacher, load_resnet50_state

Teacher: TypeAlias = ResNetTeacher | DinoV2Teacher
"""Images (B, 3, H, W) float in [0, 1] -> (B, D, H, W) unit-norm features."""

TEACHERS: dict[str, Callable[..., Teacher]] = {
    "resnet50": build_resnet50_teacher,
    **{name: partial(build_dinov2_teacher, name) for name in DINOV2_ARCHS},
}
"""Config ``teacher.name`` -> builder. ``resnet50`` takes (weights, out_dim, output_stride, stage);
the ``dinov2_*`` ViTs take (weights, out_dim, image_size=(height, width) or None)."""

__all__ = ["DINOV2_ARCHS", "TEACHERS", "DinoV2Teacher", "ResNetTeacher", "Teacher",
           "build_dinov2_teacher", "build_dinov2_trunk", "build_resnet50_teacher",
           "load_dinov2_state", "load_dinov2_weights", "load_resnet50_state"]
