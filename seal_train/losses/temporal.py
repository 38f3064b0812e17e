"""Seal's superpoint temporal consistency L^tmp: the same LiDAR segment at t and t+n agrees.

Segments come from the LiDAR alone (:mod:`seal_train.scene.clusters` on the registered pair of
scans), so one id names the same object in both frames. Each frame pools its point features per
(sample, segment) slot; the segments present in both frames are contrasted with InfoNCE, frame a's
means as queries, frame b's as keys, positives on the diagonal, every other shared segment of the
batch a negative (method.md §1.5):

    L^tmp = -(1/S) sum_s log[ exp(<c_s^a, c_s^b>/tau) / sum_s' exp(<c_s^a, c_s'^b>/tau) ]

Pooled means are not re-normalised, as in the spatial loss (SLidR): the norm of a mean of unit
vectors says how much a segment's points agree, so a ragged segment (often two objects merged by
the clustering) gives smaller logits and a softer term instead of a full-strength one, and the
loss keeps rewarding agreement within a segment, which L^p2s asks for too.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from seal_train.losses.superpixel import TEMPERATURE, segment_mean


class TemporalLoss(NamedTuple):
    """L^tmp of a batch and the number of segments it contrasted (unpack or use the fields)."""

    loss: torch.Tensor  # scalar; a graph-keeping zero when num_segments == 0
    num_segments: int  # (sample, segment) slots present in both frames: the queries


def checked_sample(features: torch.Tensor, segments: torch.Tensor, sample: torch.Tensor | None,
                   name: str) -> torch.Tensor:
    """The (N,) int64 sample index of every point (all 0 when None), shapes checked first."""
    if features.ndim != 2 or not features.is_floating_point():
        raise ValueError(f"{name}: features must be a float (N, D) tensor, got "
                         f"{features.dtype} {tuple(features.shape)}")
    N = features.shape[0]
    for label, ids in (("segments", segments), ("sample", sample)):
        if ids is not None and (ids.shape != (N,) or ids.is_floating_point()
                                or ids.dtype == torch.bool):
            raise ValueError(f"{name}: {label} must be an integer ({N},) tensor, got "
                             f"{ids.dtype} {tuple(ids.shape)}")
    if sample is None:
        return torch.zeros(N, dtype=torch.long, device=segments.device)
    return sample.long()


def temporal_infonce(features_a: torch.Tensor, segments_a: torch.Tensor,
                     features_b: torch.Tensor, segments_b: torch.Tensor, *,
                     sample_a: torch.Tensor | None = None, sample_b: torch.Tensor | None = None,
                     temperature: float = TEMPERATURE) -> TemporalLoss:
    """InfoNCE between the segment means of two frames, over every sample of a batch.

    Args:
        features_a: (N_a, D) L2-normalised point features of frame t (all samples concatenated).
        segments_a: (N_a,) int64 segment id per point, any negative id
            (:data:`seal_train.scene.NOISE`, -1) for none.
            Ids are per sample; the same id in both frames of a sample is the same segment.
        features_b, segments_b: (N_b, D) and (N_b,) the same for frame t+n.
        sample_a, sample_b: (N_a,) / (N_b,) int64 sample index of each point, the same index for
            both frames of a pair (``repeat_interleave`` of the scan sizes turns offsets into
            this). None: every point is in sample 0.
        temperature: tau of the softmax (Seal / SuperFlow: 0.07).

    Returns:
        ``TemporalLoss(loss, num_segments)``: the mean over the shared slots of the batch. With no
        slot in both frames the loss is ``(features_a.sum() + features_b.sum()) * 0``.

    Raises:
        ValueError: on shapes or dtypes out of contract.
    """
    sample_a = checked_sample(features_a, segments_a, sample_a, "frame a")
    sample_b = checked_sample(features_b, segments_b, sample_b, "frame b")
    zero = (features_a.sum() + features_b.sum()) * 0.0
    valid_a, valid_b = segments_a >= 0, segments_b >= 0
    if not (valid_a.any() and valid_b.any()):
        return TemporalLoss(zero, 0)
    stride = int(torch.maximum(segments_a.max(), segments_b.max())) + 1
    key_a = sample_a[valid_a] * stride + segments_a[valid_a]  # (V_a,) unique per (sample, id)
    key_b = sample_b[valid_b] * stride + segments_b[valid_b]  # (V_b,)
    keys, slots = torch.unique(torch.cat([key_a, key_b]), return_inverse=True)
    S = keys.numel()
    c_a, count_a = segment_mean(features_a[valid_a], slots[:key_a.numel()], S)  # (S, D), (S,)
    c_b, count_b = segment_mean(features_b[valid_b], slots[key_a.numel():], S)
    shared = (count_a > 0) & (count_b > 0)  # (S,)
    M = int(shared.sum())
    if M == 0:
        return TemporalLoss(zero, 0)
    logits = c_a[shared] @ c_b[shared].T / temperature  # (M, M), row = query at t
    target = torch.arange(M, device=logits.device)
    return TemporalLoss(F.cross_entropy(logits, target), M)
