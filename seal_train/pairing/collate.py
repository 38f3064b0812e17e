"""Batches of paired views: scans concatenated with offsets (never padded), voxelised once."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from seal_train.models import SparseBatch, VoxelGrid, voxelize
from seal_train.pairing.augment import PairedView


@dataclass(frozen=True)
class PretrainBatch:
    """Named tensors of one (micro-)batch; pair indices are global over the batch."""

    sparse: SparseBatch  # voxelised points of all scans
    images: torch.Tensor  # (I, 3, H, W) float32 in [0, 1]
    superpixels: torch.Tensor  # (I, H, W) int64, NO_SEGMENT where none
    pair_point: torch.Tensor  # (P,) int64 row in the concatenated points
    pair_image: torch.Tensor  # (P,) int64 row in images
    pair_row: torch.Tensor  # (P,) int64
    pair_col: torch.Tensor  # (P,) int64

    def to(self, device: torch.device | str) -> PretrainBatch:
        moved = {f.name: getattr(self, f.name).to(device, non_blocking=True)
                 for f in fields(self) if f.name != "sparse"}
        return PretrainBatch(sparse=self.sparse.to(device), **moved)


class PretrainCollate:
    """``collate_fn`` turning a list of :class:`PairedView` into a :class:`PretrainBatch`."""

    def __init__(self, grid: VoxelGrid) -> None:
        self.grid = grid

    def __call__(self, views: list[PairedView]) -> PretrainBatch:
        sizes = [len(v.points) for v in views]
        point_offsets = np.concatenate([[0], np.cumsum(sizes)])
        image_offsets = np.concatenate([[0], np.cumsum([len(v.images) for v in views])])
        points = torch.from_numpy(np.concatenate([v.points for v in views]))
        sparse = voxelize(points[:, :3], points[:, 3:], torch.from_numpy(point_offsets), self.grid)
        images = torch.from_numpy(np.concatenate([v.images for v in views]))
        superpixels = torch.from_numpy(np.concatenate([v.superpixels for v in views])
                                       .astype(np.int64))

        def cat(name: str, offsets: np.ndarray | None = None) -> torch.Tensor:
            parts = [getattr(v, name) + (0 if offsets is None else offsets[i])
                     for i, v in enumerate(views)]
            return torch.from_numpy(np.concatenate(parts).astype(np.int64))

        return PretrainBatch(
            sparse=sparse,
            images=images.permute(0, 3, 1, 2).float().div_(255.0),
            superpixels=superpixels,
            pair_point=cat("pair_point", point_offsets),
            pair_image=cat("pair_image", image_offsets),
            pair_row=cat("pair_row"),
            pair_col=cat("pair_col"),
        )
