"""Batches of paired views: scans concatenated with offsets (never padded), voxelised once.

A batch of frame pairs (t, t+n) holds every frame-t scan first, then the partners; only frame t
brings images, so the teacher and the spatial loss see exactly what a spatial-only batch holds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from seal_train.models import SparseBatch, VoxelGrid, voxelize
from seal_train.pairing.augment import FramePairView, PairedView
from seal_train.superpixels.store import NO_SEGMENT


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
    segment_classes: torch.Tensor  # (I, K) int64 class of superpixel id k of image i, -1 =
    # unknown; K = 1 + the largest superpixel id of the batch
    point_segments: torch.Tensor  # (N,) int64 LiDAR segment per point (per pair), -1 = none
    point_scan: torch.Tensor  # (N,) int64 scan of each point
    scan_sample: torch.Tensor  # (S,) int64 sample (frame pair) of each scan
    scan_is_partner: torch.Tensor  # (S,) bool: the scan is frame t+n of its sample

    def to(self, device: torch.device | str) -> PretrainBatch:
        moved = {f.name: getattr(self, f.name).to(device, non_blocking=True)
                 for f in fields(self) if f.name != "sparse"}
        return PretrainBatch(sparse=self.sparse.to(device), **moved)


def _padded_classes(views: list[PairedView], superpixels: np.ndarray) -> np.ndarray:
    """(I, K) int64 class tables of the views' images, -1 where a view or an id has none."""
    valid = superpixels != NO_SEGMENT
    width = int(superpixels[valid].max()) + 1 if valid.any() else 1
    table = np.full((len(superpixels), width), -1, np.int64)
    row = 0
    for view in views:
        count = len(view.images)
        if view.segment_classes is not None:
            k = min(width, view.segment_classes.shape[1])
            table[row:row + count, :k] = view.segment_classes[:, :k]
        row += count
    return table


class PretrainCollate:
    """``collate_fn`` turning a list of :class:`PairedView` or :class:`FramePairView` into a
    :class:`PretrainBatch`."""

    def __init__(self, grid: VoxelGrid) -> None:
        self.grid = grid

    def __call__(self, samples: list[PairedView] | list[FramePairView]) -> PretrainBatch:
        firsts = [s.a if isinstance(s, FramePairView) else s for s in samples]
        partners = [(i, s.b) for i, s in enumerate(samples)
                    if isinstance(s, FramePairView) and s.b is not None]
        views = firsts + [b for _, b in partners]
        scan_sample = np.concatenate([np.arange(len(firsts)), [i for i, _ in partners]])
        sizes = [len(v.points) for v in views]
        point_offsets = np.concatenate([[0], np.cumsum(sizes)])
        image_offsets = np.concatenate([[0], np.cumsum([len(v.images) for v in views])])
        points = torch.from_numpy(np.concatenate([v.points for v in views]))
        sparse = voxelize(points[:, :3], points[:, 3:], torch.from_numpy(point_offsets), self.grid)
        images = torch.from_numpy(np.concatenate([v.images for v in views]))
        superpixels = np.concatenate([v.superpixels for v in views]).astype(np.int64)
        segments = [np.full(len(v.points), -1, np.int64) if v.segments is None else v.segments
                    for v in views]

        def cat(name: str, offsets: np.ndarray | None = None) -> torch.Tensor:
            parts = [getattr(v, name) + (0 if offsets is None else offsets[i])
                     for i, v in enumerate(views)]
            return torch.from_numpy(np.concatenate(parts).astype(np.int64))

        return PretrainBatch(
            sparse=sparse,
            images=images.permute(0, 3, 1, 2).float().div_(255.0),
            superpixels=torch.from_numpy(superpixels),
            pair_point=cat("pair_point", point_offsets),
            pair_image=cat("pair_image", image_offsets),
            pair_row=cat("pair_row"),
            pair_col=cat("pair_col"),
            segment_classes=torch.from_numpy(_padded_classes(views, superpixels)),
            point_segments=torch.from_numpy(np.concatenate(segments).astype(np.int64)),
            point_scan=torch.from_numpy(np.repeat(np.arange(len(views)), sizes)),
            scan_sample=torch.from_numpy(scan_sample.astype(np.int64)),
            scan_is_partner=torch.from_numpy(np.arange(len(views)) >= len(firsts)),
        )
