"""The vectorised point-to-segment InfoNCE equals a loop over points of method.md §1.6."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seal_train.losses import point_to_segment_infonce


def _naive(features, segments, sample, tau, rows=None):
    """Point by point: its segment's mean against the means of its own sample's segments."""
    prototypes = {}
    for b, s in {(int(sample[i]), int(segments[i])) for i in range(len(segments))
                 if segments[i] >= 0}:
        members = [i for i in range(len(segments)) if sample[i] == b and segments[i] == s]
        prototypes[b, s] = torch.stack([features[i] for i in members]).mean(0)
    rows = [i for i in range(len(segments)) if segments[i] >= 0] if rows is None else rows
    loss = 0.0
    for i in rows:
        own = [key for key in sorted(prototypes) if key[0] == int(sample[i])]
        scores = torch.stack([features[i] @ prototypes[key] / tau for key in own])
        loss = loss - (scores[own.index((int(sample[i]), int(segments[i])))]
                       - torch.logsumexp(scores, 0))
    return loss / len(rows)


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    N, D = 90, 8
    features = F.normalize(torch.randn(N, D, generator=g, dtype=torch.float64), dim=1)
    segments = torch.randint(-1, 5, (N,), generator=g)
    sample = torch.randint(0, 3, (N,), generator=g)
    segments[(sample == 1) & (segments == 2)] = 40  # sparse ids; ids are per sample
    return features.requires_grad_(True), segments, sample


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_naive_implementation_with_gradients(seed):
    features, segments, sample = _batch(seed)
    fast = point_to_segment_infonce(features, segments, sample, temperature=0.07)
    (grad_fast,) = torch.autograd.grad(fast, features)
    slow = _naive(features, segments, sample, 0.07)
    (grad_slow,) = torch.autograd.grad(slow, features)
    assert torch.allclose(fast, slow, atol=1e-10)
    assert torch.allclose(grad_fast, grad_slow, atol=1e-10)


def test_negatives_come_from_the_points_own_sample():
    features, segments, sample = _batch(2)
    batched = point_to_segment_infonce(features, segments, sample)
    merged = point_to_segment_infonce(features, segments)  # every point in sample 0
    assert torch.allclose(merged, _naive(features, segments, torch.zeros_like(sample), 0.07),
                          atol=1e-10)
    assert not torch.allclose(batched, merged)


def test_max_points_draws_a_seeded_subset_and_prototypes_keep_every_point():
    features, segments, sample = _batch(3)
    g = torch.Generator().manual_seed(9)
    sub = point_to_segment_infonce(features, segments, sample, max_points=20, generator=g)
    valid = torch.nonzero(segments >= 0).squeeze(1)
    rows = valid[torch.randperm(len(valid), generator=torch.Generator().manual_seed(9))[:20]]
    assert torch.allclose(sub, _naive(features, segments, sample, 0.07, rows.tolist()),
                          atol=1e-10)
    again = point_to_segment_infonce(features, segments, sample, max_points=20,
                                     generator=torch.Generator().manual_seed(9))
    assert torch.equal(sub, again)


def test_tight_segments_beat_scattered_points():
    g = torch.Generator().manual_seed(4)
    centers = F.normalize(torch.randn(30, 16, generator=g), dim=1)
    segments = torch.arange(30).repeat(4)
    tight = point_to_segment_infonce(centers[segments], segments)
    scattered = point_to_segment_infonce(
        F.normalize(torch.randn(120, 16, generator=g), dim=1), segments)
    assert tight < 0.5 < 1.2 < scattered  # a point is a quarter of its own prototype


def test_no_segmented_point_is_a_zero_that_keeps_the_graph():
    features = F.normalize(torch.randn(6, 4), dim=1).requires_grad_(True)
    loss = point_to_segment_infonce(features, torch.full((6,), -1))
    assert loss.item() == 0.0 and loss.requires_grad
    (grad,) = torch.autograd.grad(loss, features)
    assert not grad.any()


def test_bad_arguments_are_refused():
    f, s = torch.zeros(5, 3), torch.zeros(5, dtype=torch.long)
    with pytest.raises(ValueError, match="max_points must be"):
        point_to_segment_infonce(f, s, max_points=0)
    with pytest.raises(ValueError, match="segments must be an integer"):
        point_to_segment_infonce(f, s.float())
