"""The vectorised temporal InfoNCE equals a loop over samples and segments of method.md §1.5."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seal_train.losses import TemporalLoss, temporal_infonce

DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")])]
# float64 inputs: both sides sum the same terms in other orders, so 1e-10 holds (the contract
# asks for 1e-5; the tighter bound would catch a wrong term that float32 noise could hide).
ATOL = 1e-10


def _naive(fa, sa, ba, fb, sb, bb, tau):
    """Straight from the formula: loop over samples, then segment ids present in both frames."""
    pairs = []
    for b in sorted(set(ba.tolist()) | set(bb.tolist())):
        ids_a = {int(sa[i]) for i in range(len(sa)) if ba[i] == b and sa[i] >= 0}
        ids_b = {int(sb[i]) for i in range(len(sb)) if bb[i] == b and sb[i] >= 0}
        for s in sorted(ids_a & ids_b):
            ca = torch.stack([fa[i] for i in range(len(sa)) if ba[i] == b and sa[i] == s]).mean(0)
            cb = torch.stack([fb[i] for i in range(len(sb)) if bb[i] == b and sb[i] == s]).mean(0)
            pairs.append((ca, cb))
    loss = 0.0
    for i, (ca, _) in enumerate(pairs):
        scores = torch.stack([ca @ cb / tau for _, cb in pairs])
        loss = loss - (scores[i] - torch.logsumexp(scores, 0))
    return loss / len(pairs), len(pairs)


def _frames(seed: int, device: str = "cpu"):
    """Three samples; sparse ids, ids missing from one frame, -1 points, unsorted samples."""
    g = torch.Generator().manual_seed(seed)
    Na, Nb, D, B = 70, 60, 8, 3
    fa = F.normalize(torch.randn(Na, D, generator=g, dtype=torch.float64), dim=1)
    fb = F.normalize(torch.randn(Nb, D, generator=g, dtype=torch.float64), dim=1)
    sa = torch.randint(-1, 6, (Na,), generator=g)
    sb = torch.randint(-1, 6, (Nb,), generator=g)
    ba = torch.randint(0, B, (Na,), generator=g)
    bb = torch.randint(0, B, (Nb,), generator=g)
    sa[(ba == 2) & (sa == 4)] = 11  # sample 2: id 11 only at t, id 4 only at t+n
    sb[(bb == 2) & (sb == 11)] = 4
    sa[(ba == 1) & (sa == 0)] = -1  # sample 1: id 0 only at t+n
    tensors = (fa, sa, ba, fb, sb, bb)
    fa, sa, ba, fb, sb, bb = (t.to(device) for t in tensors)
    return fa.requires_grad_(True), sa, ba, fb.requires_grad_(True), sb, bb


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_naive_implementation_with_gradients(device, seed):
    fa, sa, ba, fb, sb, bb = _frames(seed, device)
    fast = temporal_infonce(fa, sa, fb, sb, sample_a=ba, sample_b=bb, temperature=0.07)
    grad_fast = torch.autograd.grad(fast.loss, (fa, fb))
    slow, count = _naive(fa, sa, ba, fb, sb, bb, 0.07)
    grad_slow = torch.autograd.grad(slow, (fa, fb))
    assert isinstance(fast, TemporalLoss)
    assert fast.num_segments == count >= 10
    assert torch.allclose(fast.loss, slow, atol=ATOL)
    for a, b in zip(grad_fast, grad_slow, strict=True):
        assert torch.allclose(a, b, atol=ATOL)


def test_ids_are_per_sample():
    fa, sa, ba, fb, sb, bb = _frames(2)
    batched, count = temporal_infonce(fa, sa, fb, sb, sample_a=ba, sample_b=bb)
    merged, merged_count = temporal_infonce(fa, sa, fb, sb)  # every point in sample 0
    single, _ = _naive(fa, sa, torch.zeros_like(ba), fb, sb, torch.zeros_like(bb), 0.07)
    assert torch.allclose(merged, single, atol=ATOL)
    assert merged_count < count  # id s of sample 0 and of sample 1 were one slot
    assert not torch.allclose(batched, merged)


def test_sparse_large_ids_equal_dense_ids():
    fa, sa, ba, fb, sb, bb = _frames(3)
    dense, _ = temporal_infonce(fa, sa, fb, sb, sample_a=ba, sample_b=bb)
    sparse_a = torch.where(sa >= 0, sa * 100_003 + 7, sa)
    sparse_b = torch.where(sb >= 0, sb * 100_003 + 7, sb)
    sparse, _ = temporal_infonce(fa, sparse_a, fb, sparse_b, sample_a=ba, sample_b=bb)
    assert torch.allclose(dense, sparse, atol=ATOL)


@pytest.mark.parametrize("case", ["disjoint", "no_segment_at_t", "empty_frame"])
def test_no_shared_segment_is_a_zero_that_keeps_the_graph(case):
    g = torch.Generator().manual_seed(4)
    fa = F.normalize(torch.randn(20, 4, generator=g), dim=1).requires_grad_(True)
    fb = F.normalize(torch.randn(15, 4, generator=g), dim=1).requires_grad_(True)
    sa, sb = torch.randint(0, 3, (20,), generator=g), torch.randint(3, 6, (15,), generator=g)
    ba, bb = torch.zeros(20, dtype=torch.long), torch.zeros(15, dtype=torch.long)
    if case == "no_segment_at_t":
        sa = torch.full_like(sa, -1)
    if case == "empty_frame":
        fb, sb, bb = fb[:0], sb[:0], bb[:0]
    if case == "disjoint":  # same ids, other samples: still no shared slot
        sb, bb = sa[:15].clone(), torch.ones(15, dtype=torch.long)
    loss, count = temporal_infonce(fa, sa, fb, sb, sample_a=ba, sample_b=bb)
    assert count == 0 and loss.item() == 0.0 and loss.requires_grad
    grad_a, grad_b = torch.autograd.grad(loss, (fa, fb), allow_unused=False)
    assert not grad_a.any() and not grad_b.any()


def test_one_shared_segment_costs_nothing():
    g = torch.Generator().manual_seed(5)
    fa = F.normalize(torch.randn(10, 4, generator=g), dim=1).requires_grad_(True)
    fb = F.normalize(torch.randn(8, 4, generator=g), dim=1)
    sa, sb = torch.tensor([0] * 5 + [1] * 5), torch.tensor([1] * 4 + [2] * 4)
    loss, count = temporal_infonce(fa, sa, fb, sb)
    assert count == 1 and loss.item() == 0.0  # log(1): its own key is the only key
    (grad,) = torch.autograd.grad(loss, fa)
    assert not grad.any()


def test_consistent_segments_beat_shuffled():
    g = torch.Generator().manual_seed(6)
    centers = F.normalize(torch.randn(2, 20, 16, generator=g), dim=2)  # (B, S, D)
    segments = torch.arange(20).repeat(2 * 5)  # 5 points per (sample, segment)
    sample = torch.arange(2).repeat_interleave(100)
    points = centers[sample, segments]
    good, count = temporal_infonce(points, segments, points, segments,
                                   sample_a=sample, sample_b=sample)
    order = torch.randperm(200, generator=g)
    bad, _ = temporal_infonce(points, segments, points[order], segments,
                              sample_a=sample, sample_b=sample)
    assert count == 40
    assert good < 0.5 < math.log(40) - 1 < bad


def test_rejects_bad_shapes():
    f, s = torch.zeros(5, 3), torch.zeros(5, dtype=torch.long)
    with pytest.raises(ValueError, match="frame b: segments must be an integer"):
        temporal_infonce(f, s, f, s[:4])
    with pytest.raises(ValueError, match="frame a: sample must be an integer"):
        temporal_infonce(f, s, f, s, sample_a=torch.zeros(5))
    with pytest.raises(ValueError, match="frame a: features must be a float"):
        temporal_infonce(f[0], s, f, s)
