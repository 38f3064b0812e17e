"""SLidR's superpixel-to-superpoint InfoNCE (the spatial, camera-to-LiDAR term of Seal).

Every (image, superpixel) slot with at least one paired point gives one positive pair: the mean of
the 2D features over all its pixels (q) and the mean of the 3D features over its paired points (k).
Every other non-empty slot in the batch is a negative. Pooled vectors are not re-normalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seal_train.superpixels.store import NO_SEGMENT

TEMPERATURE = 0.07


def _segment_mean(values: torch.Tensor, slots: torch.Tensor, num_slots: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` (M, D) per slot id (M,) -> ((num_slots, D), counts (num_slots,))."""
    sums = values.new_zeros(num_slots, values.shape[1]).index_add_(0, slots, values)
    counts = torch.bincount(slots, minlength=num_slots).to(values.dtype)
    return sums / counts.clamp(min=1).unsqueeze(1), counts


def superpixel_infonce(point_features: torch.Tensor, pixel_features: torch.Tensor,
                       superpixels: torch.Tensor, pair_point: torch.Tensor,
                       pair_image: torch.Tensor, pair_row: torch.Tensor, pair_col: torch.Tensor,
                       temperature: float = TEMPERATURE) -> torch.Tensor:
    """InfoNCE between superpoint (3D) and superpixel (2D) features over a whole batch.

    Args:
        point_features: (N, D) L2-normalised 3D features, one row per point.
        pixel_features: (I, D, H, W) L2-normalised 2D features of the I images in the batch.
        superpixels: (I, H, W) int64 dense superpixel ids per image, NO_SEGMENT where none.
        pair_point, pair_image, pair_row, pair_col: (P,) point <-> pixel pairs.
        temperature: tau of the softmax (SLidR: 0.07).

    Returns:
        Scalar loss; superpoints are the queries, superpixels the keys (SLidR's direction).
    """
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
    q, _ = _segment_mean(pixels, pixel_slots, num_slots)  # (S, D)
    k, point_counts = _segment_mean(point_features[pair_point[keep]], pair_slots, num_slots)
    used = point_counts > 0
    q, k = q[used], k[used]  # (M, D) each
    logits = k @ q.T / temperature  # (M, M)
    target = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, target)
