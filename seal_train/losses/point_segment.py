"""Seal's point-to-segment regularisation L^p2s: each point sides with its own segment.

The temporal loss only sees segment means; a segment can reach a good mean while its points
scatter. L^p2s contrasts each point with the segment prototypes of its scan (method.md §1.6):

    L^p2s = -(1/N) sum_i log[ exp(<h_i, c_s(i)>/tau) / sum_s' exp(<h_i, c_s'>/tau) ]

with c_s the mean of the L2-normalised point features of segment s (not re-normalised, as in
:mod:`seal_train.losses.temporal`) and s' running over the segments of the same sample only.

Why negatives within the sample: segment ids and clusters are per scan, and the formula is per
scan. Prototypes of other scans are other places, easy negatives that add (N x S_batch) work and
little signal, and they would make the loss depend on the batch size and on how DDP splits it;
a per-scan denominator keeps it comparable across both. The logits are still computed as one
(M, S_batch) product, other samples' entries masked to -inf, so memory grows with M x S_batch:
``max_points`` bounds M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seal_train.losses.superpixel import TEMPERATURE, segment_mean
from seal_train.losses.temporal import checked_sample


def point_to_segment_infonce(features: torch.Tensor, segments: torch.Tensor,
                             sample: torch.Tensor | None = None,
                             temperature: float = TEMPERATURE, max_points: int | None = None,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """InfoNCE of every segmented point against the segment prototypes of its own sample.

    Args:
        features: (N, D) L2-normalised point features, all samples of the batch concatenated.
        segments: (N,) int64 segment id per point, negative (-1) for none; ids are per sample.
        sample: (N,) int64 sample index per point; None: all points are in sample 0.
        temperature: tau of the softmax (Seal: 0.07).
        max_points: if set, only this many segmented points of the whole batch, drawn uniformly
            without replacement, are queries; prototypes always pool every segmented point.
        generator: RNG of that draw (its device is used for ``randperm``), so a seeded generator
            gives the same subset; None draws from torch's default generator.

    Returns:
        Scalar mean over the query points. A point alone with its segment in its sample costs 0
        (log 1) and still counts. With no segmented point: ``features.sum() * 0``.

    Raises:
        ValueError: on shapes or dtypes out of contract, or ``max_points`` < 1.
    """
    if max_points is not None and max_points < 1:
        raise ValueError(f"max_points must be >= 1 or None, got {max_points}")
    sample = checked_sample(features, segments, sample, "point_to_segment_infonce")
    valid = segments >= 0
    if not valid.any():
        return features.sum() * 0.0
    stride = int(segments.max()) + 1
    point_sample = sample[valid]  # (V,)
    keys, slots = torch.unique(point_sample * stride + segments[valid], return_inverse=True)
    points = features[valid]  # (V, D)
    prototypes, _ = segment_mean(points, slots, keys.numel())  # (S, D)
    prototype_sample = torch.div(keys, stride, rounding_mode="floor")  # (S,)

    V = points.shape[0]
    if max_points is not None and max_points < V:
        device = generator.device if generator is not None else points.device
        pick = torch.randperm(V, generator=generator, device=device)[:max_points]
        pick = pick.to(points.device)
        points, slots, point_sample = points[pick], slots[pick], point_sample[pick]
    logits = points @ prototypes.T / temperature  # (M, S)
    other_sample = point_sample.unsqueeze(1) != prototype_sample.unsqueeze(0)  # (M, S)
    logits = logits.masked_fill(other_sample, float("-inf"))
    return F.cross_entropy(logits, slots)
