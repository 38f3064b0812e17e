"""The pretraining model: the student backbone with its projection head, and the image teacher."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from seal_ros.core.minkunet import MinkUNet
from seal_train.teachers import Teacher

if TYPE_CHECKING:
    from seal_train.pairing.collate import PretrainBatch

__all__ = ["PretrainModel"]


class PretrainModel(nn.Module):
    """Student (MinkUNet + 1x1 head) and teacher (frozen trunk + trainable 1x1 head)."""

    rebuilt_prefixes = ("teacher.trunk.",)
    """Not in checkpoints: the frozen trunk is the user's weights file (or seeded random weights),
    built again by every run (:func:`seal_train.engine.checkpoint.saved_state`)."""

    def __init__(self, backbone: MinkUNet, teacher: Teacher, feature_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.point_head = nn.Linear(backbone.out_channels, feature_dim)
        self.teacher = teacher

    def forward(self, batch: PretrainBatch) -> tuple[torch.Tensor, torch.Tensor]:
        points = F.normalize(self.point_head(self.backbone(batch.sparse)), dim=1)  # (N, D)
        pixels = self.teacher(batch.images)  # (I, D, H, W), unit norm
        return points, pixels
