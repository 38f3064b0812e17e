"""SLidR's superpixel-to-superpoint InfoNCE (the spatial, camera-to-LiDAR term of Seal).

Every (image, superpixel) slot with at least one paired point gives one positive pair: the mean of
the 2D features over all its pixels (q) and the mean of the 3D features over its paired points (k).
Every other non-empty slot in the batch is a negative. Pooled vectors are not re-normalised.

Two segment-aware options, both off by default (then the loss is SLidR's, value for value):

- ``weighting="points"`` weights each superpoint's term by its number of paired points. With VFM
  superpixels a road is one segment of thousands of points next to many small ones; the plain
  mean gives it the weight of one small segment.
- ``segment_classes`` removes same-class keys from each query's denominator (class-aware
  negatives): with semantic superpixels, two cars are no longer pushed apart as if unrelated.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from seal_train.superpixels.store import NO_SEGMENT

TEMPERATURE = 0.07
Weighting = Literal["none", "points"]
"""How the per-superpoint terms are averaged: "none" (plain mean) or "points" (by paired points)."""


def segment_mean(values: torch.Tensor, slots: torch.Tensor, num_slots: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` (M, D) per slot id (M,) -> ((num_slots, D), counts (num_slots,)).

    Empty slots get a zero row and count 0; one ``index_add_`` and one ``bincount``, no loop.
    """
    sums = values.new_zeros(num_slots, values.shape[1]).index_add_(0, slots, values)
    counts = torch.bincount(slots, minlength=num_slots).to(values.dtype)
    return sums / counts.clamp(min=1).unsqueeze(1), counts


def same_class_negatives(classes: torch.Tensor) -> torch.Tensor:
    """(M, M) bool: True where key j != query i and both have the same known class (>= 0).

    These logits leave the softmax denominator; the diagonal (the positive) is never masked.
    """
    M = classes.shape[0]
    same = (classes.unsqueeze(1) == classes.unsqueeze(0)) & (classes >= 0).unsqueeze(1)
    return same & ~torch.eye(M, dtype=torch.bool, device=classes.device)


def _slot_classes(segment_classes: torch.Tensor, num_images: int, stride: int) -> torch.Tensor:
    """Class per slot ``image * stride + id`` -> (num_images * stride,) int64."""
    if (segment_classes.ndim != 2 or segment_classes.shape[0] != num_images
            or segment_classes.shape[1] < stride or segment_classes.is_floating_point()
            or segment_classes.dtype == torch.bool):
        raise ValueError(f"segment_classes must be an integer (I={num_images}, K>={stride}) "
                         f"tensor (K above every superpixel id), got {segment_classes.dtype} "
                         f"{tuple(segment_classes.shape)}")
    return segment_classes[:, :stride].reshape(-1).long()


def superpixel_infonce(point_features: torch.Tensor, pixel_features: torch.Tensor,
                       superpixels: torch.Tensor, pair_point: torch.Tensor,
                       pair_image: torch.Tensor, pair_row: torch.Tensor, pair_col: torch.Tensor,
                       temperature: float = TEMPERATURE, *, weighting: Weighting = "none",
                       segment_classes: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE between superpoint (3D) and superpixel (2D) features over a whole batch.

    Args:
        point_features: (N, D) L2-normalised 3D features, one row per point.
        pixel_features: (I, D, H, W) L2-normalised 2D features of the I images in the batch.
        superpixels: (I, H, W) int64 dense superpixel ids per image, NO_SEGMENT where none.
        pair_point, pair_image, pair_row, pair_col: (P,) point <-> pixel pairs.
        temperature: tau of the softmax (SLidR: 0.07).
        weighting: "none": mean over superpoints (SLidR). "points": superpoint i's term weighted
            by its paired-point count (pairs, as in its mean) over the total of kept pairs.
        segment_classes: (I, K) integer class of superpixel id s of image i at [i, s], -1 =
            unknown (the store's class tables padded with -1); K must exceed every superpixel id
            of the batch. Keys of the same known class as the query leave its denominator.
            None: every other superpixel is a negative (SLidR).

    Returns:
        Scalar loss; superpoints are the queries, superpixels the keys (SLidR's direction).

    Raises:
        ValueError: on an unknown ``weighting`` or a ``segment_classes`` of the wrong shape.
    """
    if weighting not in ("none", "points"):
        raise ValueError(f"weighting must be 'none' or 'points', got {weighting!r}")
    I, D, H, W = pixel_features.shape
    valid_pix = superpixels != NO_SEGMENT  # (I, H, W)
    stride = int(superpixels[valid_pix].max().item()) + 1 if valid_pix.any() else 1
    image_index = torch.arange(I, device=superpixels.device).view(I, 1, 1).expand(I, H, W)
    pixel_slots = (image_index * stride + superpixels)[valid_pix]  # (V,)
    pixels = pixel_features.permute(0, 2, 3, 1)[valid_pix]  # (V, D)

    pair_sp = superpixels[pair_image, pair_row, pair_col]  # (P,)
    keep = pair_sp != NO_SEGMENT
    pair_slots = pair_image[keep] * stride + pair_sp[keep]
    num_slots = I * stride
    q, _ = segment_mean(pixels, pixel_slots, num_slots)  # (S, D)
    k, point_counts = segment_mean(point_features[pair_point[keep]], pair_slots, num_slots)
    used = point_counts > 0
    q, k = q[used], k[used]  # (M, D) each
    logits = k @ q.T / temperature  # (M, M)
    if segment_classes is not None:
        classes = _slot_classes(segment_classes, I, stride).to(logits.device)[used]  # (M,)
        logits = logits.masked_fill(same_class_negatives(classes), float("-inf"))
    target = torch.arange(logits.shape[0], device=logits.device)
    if weighting == "none":
        return F.cross_entropy(logits, target)
    weights = point_counts[used] / point_counts[used].sum()  # (M,), sums to 1
    return (F.cross_entropy(logits, target, reduction="none") * weights).sum()
