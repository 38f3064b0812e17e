"""The vectorised superpixel InfoNCE equals a direct, loop-by-loop implementation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from seal_train.losses import superpixel_infonce
from seal_train.superpixels import NO_SEGMENT


def _naive(point_f, pixel_f, sp, pp, pi, pr, pc, tau):
    """Straight from the formula: loop over images and superpixel ids."""
    keys, queries = [], []
    for img in range(sp.shape[0]):
        for s in sorted(set(sp[img].flatten().tolist()) - {NO_SEGMENT}):
            members = [j for j in range(len(pp))
                       if pi[j] == img and sp[img, pr[j], pc[j]] == s]
            if not members:
                continue
            keys.append(torch.stack([point_f[pp[j]] for j in members]).mean(0))
            mask = sp[img] == s
            queries.append(pixel_f[img][:, mask].mean(1))
    k, q = torch.stack(keys), torch.stack(queries)
    loss = 0.0
    for i in range(len(k)):
        scores = torch.stack([k[i] @ q[j] / tau for j in range(len(q))])
        loss = loss - (scores[i] - torch.logsumexp(scores, 0))
    return loss / len(k), len(k)


def test_matches_naive_implementation_with_gradients():
    g = torch.Generator().manual_seed(0)
    I, D, H, W, N, P = 3, 8, 6, 7, 40, 90
    point_f = F.normalize(torch.randn(N, D, generator=g, dtype=torch.float64), dim=1)
    point_f.requires_grad_(True)
    pixel_f = F.normalize(torch.randn(I, D, H, W, generator=g, dtype=torch.float64), dim=1)
    sp = torch.randint(0, 5, (I, H, W), generator=g)
    sp[0, :2] = NO_SEGMENT  # pixels in no segment
    sp[2][sp[2] == 3] = 9  # sparse ids within an image
    pp = torch.randint(0, N, (P,), generator=g)
    pi = torch.randint(0, I, (P,), generator=g)
    pr = torch.randint(0, H, (P,), generator=g)
    pc = torch.randint(0, W, (P,), generator=g)
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
