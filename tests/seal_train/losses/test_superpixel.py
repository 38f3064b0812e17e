"""The vectorised superpixel InfoNCE equals a direct, loop-by-loop implementation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seal_train.losses import superpixel_infonce
from seal_train.superpixels import NO_SEGMENT


def _naive(point_f, pixel_f, sp, pp, pi, pr, pc, tau, weighting="none", classes=None):
    """Straight from the formula: loop over images and superpixel ids. ``weighting="points"``
    weights superpoint i's term by its paired points; ``classes[img][s]`` (-1 = unknown) drops
    keys of the query's class (other than its own) from the denominator."""
    keys, queries, counts, cls = [], [], [], []
    for img in range(sp.shape[0]):
        for s in sorted(set(sp[img].flatten().tolist()) - {NO_SEGMENT}):
            members = [j for j in range(len(pp))
                       if pi[j] == img and sp[img, pr[j], pc[j]] == s]
            if not members:
                continue
            keys.append(torch.stack([point_f[pp[j]] for j in members]).mean(0))
            mask = sp[img] == s
            queries.append(pixel_f[img][:, mask].mean(1))
            counts.append(len(members))
            cls.append(-1 if classes is None else int(classes[img][s]))
    k, q = torch.stack(keys), torch.stack(queries)
    loss, total = 0.0, 0.0
    for i in range(len(k)):
        js = [j for j in range(len(q)) if j == i or cls[j] < 0 or cls[j] != cls[i]]
        scores = torch.stack([k[i] @ q[j] / tau for j in js])
        term = -(scores[js.index(i)] - torch.logsumexp(scores, 0))
        weight = counts[i] if weighting == "points" else 1
        loss, total = loss + weight * term, total + weight
    return loss / total, len(k)


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    I, D, H, W, N, P = 3, 8, 6, 7, 40, 90
    point_f = F.normalize(torch.randn(N, D, generator=g, dtype=torch.float64), dim=1)
    pixel_f = F.normalize(torch.randn(I, D, H, W, generator=g, dtype=torch.float64), dim=1)
    sp = torch.randint(0, 5, (I, H, W), generator=g)
    sp[0, :2] = NO_SEGMENT  # pixels in no segment
    sp[2][sp[2] == 3] = 9  # sparse ids within an image
    pp = torch.randint(0, N, (P,), generator=g)
    pi = torch.randint(0, I, (P,), generator=g)
    pr = torch.randint(0, H, (P,), generator=g)
    pc = torch.randint(0, W, (P,), generator=g)
    return point_f.requires_grad_(True), pixel_f, sp, pp, pi, pr, pc


def test_matches_naive_implementation_with_gradients():
    point_f, pixel_f, sp, pp, pi, pr, pc = _batch(0)
    fast = superpixel_infonce(point_f, pixel_f, sp, pp, pi, pr, pc, temperature=0.07)
    (grad_fast,) = torch.autograd.grad(fast, point_f)
    slow, slots = _naive(point_f, pixel_f, sp, pp, pi, pr, pc, 0.07)
    (grad_slow,) = torch.autograd.grad(slow, point_f)
    assert slots >= 10
    assert torch.allclose(fast, slow, atol=1e-10)
    assert torch.allclose(grad_fast, grad_slow, atol=1e-10)


def test_perfect_alignment_beats_shuffled():
    g = torch.Generator().manual_seed(1)
    I, D, H, W = 2, 16, 8, 8
    sp = torch.arange(16).view(4, 4).repeat_interleave(2, 0).repeat_interleave(2, 1)
    sp = sp.unsqueeze(0).expand(I, H, W).contiguous()
    centers = F.normalize(torch.randn(I, 16, D, generator=g), dim=2)
    pixel_f = centers[torch.arange(I).view(I, 1, 1), sp].permute(0, 3, 1, 2)  # (I, D, H, W)
    rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    pi = torch.arange(I).repeat_interleave(H * W)
    pr, pc = rows.flatten().repeat(I), cols.flatten().repeat(I)
    pp = torch.arange(I * H * W)
    aligned = centers[pi, sp[pi, pr, pc]]
    good = superpixel_infonce(aligned, pixel_f, sp, pp, pi, pr, pc)
    bad = superpixel_infonce(aligned[torch.randperm(len(pp), generator=g)], pixel_f, sp, pp, pi,
                             pr, pc)
    assert good < 0.5 < math.log(32) - 1 < bad


@pytest.mark.parametrize(("weighting", "class_aware"),
                         [("points", False), ("none", True), ("points", True)])
def test_segment_aware_options_match_the_loop(weighting, class_aware):
    point_f, pixel_f, sp, pp, pi, pr, pc = _batch(2)
    g = torch.Generator().manual_seed(3)
    classes = torch.randint(-1, 3, (3, 12), generator=g) if class_aware else None
    fast = superpixel_infonce(point_f, pixel_f, sp, pp, pi, pr, pc, 0.07, weighting=weighting,
                              segment_classes=classes)
    (grad_fast,) = torch.autograd.grad(fast, point_f)
    slow, _ = _naive(point_f, pixel_f, sp, pp, pi, pr, pc, 0.07, weighting, classes)
    (grad_slow,) = torch.autograd.grad(slow, point_f)
    plain = superpixel_infonce(point_f, pixel_f, sp, pp, pi, pr, pc, 0.07)
    assert torch.allclose(fast, slow, atol=1e-10)
    assert torch.allclose(grad_fast, grad_slow, atol=1e-10)
    assert abs(fast.item() - plain.item()) > 1e-3  # the option changes the value


def test_unknown_classes_keep_slidrs_loss():
    point_f, pixel_f, sp, pp, pi, pr, pc = _batch(4)
    plain = superpixel_infonce(point_f, pixel_f, sp, pp, pi, pr, pc)
    unknown = torch.full((3, 10), -1)
    assert torch.equal(superpixel_infonce(point_f, pixel_f, sp, pp, pi, pr, pc,
                                          segment_classes=unknown), plain)


def test_class_aware_negatives_stop_pushing_same_class_segments_apart():
    """Two segments of one class with identical features: SLidR's loss cannot tell them apart
    (ln 2 each), the class-aware loss has nothing to separate (0)."""
    D = 4
    sp = torch.tensor([[[0, 0, 1, 1]]])  # one 1 x 4 image, segments 0 and 1
    pixel_f = F.normalize(torch.ones(1, D, 1, 4, dtype=torch.float64), dim=1)
    point_f = F.normalize(torch.ones(4, D, dtype=torch.float64), dim=1)
    pairs = (torch.arange(4), torch.zeros(4, dtype=torch.long), torch.zeros(4, dtype=torch.long),
             torch.arange(4))
    plain = superpixel_infonce(point_f, pixel_f, sp, *pairs)
    aware = superpixel_infonce(point_f, pixel_f, sp, *pairs,
                               segment_classes=torch.tensor([[7, 7]]))
    assert math.isclose(plain.item(), math.log(2), rel_tol=1e-9) and aware.item() == 0.0


def test_option_errors_name_the_setting():
    point_f, pixel_f, sp, pp, pi, pr, pc = _batch(6)
    with pytest.raises(ValueError, match="weighting must be"):
        superpixel_infonce(point_f, pixel_f, sp, pp, pi, pr, pc, weighting="area")
    with pytest.raises(ValueError, match="segment_classes must be an integer"):
        superpixel_infonce(point_f, pixel_f, sp, pp, pi, pr, pc,
                           segment_classes=torch.zeros(3, 4, dtype=torch.long))  # ids reach 9
