"""Lovász-softmax (Berman et al., CVPR 2018): a convex surrogate of the per-class Jaccard loss.

Cross-entropy optimises per-point accuracy; mIoU is a per-class set measure, so SLidR, SuperFlow
and ScaLR fine-tune with CE + Lovász-softmax. The Jaccard loss of class c is a submodular function
of the set of mispredicted points; its Lovász extension, evaluated at the per-point errors
``|fg - p_c|``, is piecewise linear in the probabilities and equals the Jaccard loss on one-hot
predictions. Here it is evaluated for all classes at once: one sort per class column, no loop.

Inputs are probabilities (softmax already applied), as in the reference implementation
(``bermanmaxim/LovaszSoftmax``, ``lovasz_softmax_flat``), whose values and gradients this matches.
"""

from __future__ import annotations

from typing import Literal

import torch

Classes = Literal["present", "all"]


def lovasz_grad(gt_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovász extension of the Jaccard loss w.r.t. errors sorted descending.

    Mispredicting the first k sorted points gives Jaccard loss 1 - I_k / U_k with
    I_k = gts - cumsum(fg)_k and U_k = gts + cumsum(1 - fg)_k; the extension's gradient is the
    difference of consecutive values (the first one is taken against an empty set, loss 0).

    Args:
        gt_sorted: (..., M) ground-truth indicator (0/1, float) of each point, in the order of
            its errors sorted descending; leading dimensions are independent classes.

    Returns:
        (..., M) weights w with loss = sum(errors_sorted * w); they sum to the Jaccard loss of
        mispredicting every point (1 if the class has any point or any point is considered).
    """
    gts = gt_sorted.sum(-1, keepdim=True)  # (..., 1)
    intersection = gts - gt_sorted.cumsum(-1)  # (..., M)
    union = gts + (1.0 - gt_sorted).cumsum(-1)  # (..., M), >= 1 everywhere
    jaccard = 1.0 - intersection / union
    return torch.cat([jaccard[..., :1], jaccard[..., 1:] - jaccard[..., :-1]], dim=-1)


def lovasz_softmax(probabilities: torch.Tensor, labels: torch.Tensor, *,
                   ignore_index: int | None = 0, classes: Classes = "present") -> torch.Tensor:
    """Multi-class Lovász-softmax loss over a flat set of points, averaged over classes.

    Args:
        probabilities: (N, C) float class probabilities per point (softmax already applied;
            logits would give a different, wrong loss).
        labels: (N,) int64 class ids in [0, C); ``ignore_index`` points are left out.
        ignore_index: label to leave out (SLidR nuScenes: 0); None keeps every point.
        classes: "present" averages over the classes that occur in the kept labels (the paper's
            default, used by SLidR); "all" averages over all C columns, where an absent class
            (including the ``ignore_index`` column, as in the reference) costs the largest
            probability given to it.

    Returns:
        Scalar loss in [0, 1]. With no point left (all ignored, or N = 0) it is
        ``probabilities.sum() * 0``: zero, but attached to the graph so ``backward`` still runs.

    Raises:
        ValueError: on shapes, dtypes, label ids or ``classes`` out of contract.
    """
    if probabilities.ndim != 2 or not probabilities.is_floating_point():
        raise ValueError(f"probabilities must be a float (N, C) tensor, got "
                         f"{probabilities.dtype} {tuple(probabilities.shape)}")
    N, C = probabilities.shape
    if labels.shape != (N,) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer ({N},) tensor to match probabilities "
                         f"{tuple(probabilities.shape)}, got {labels.dtype} {tuple(labels.shape)}")
    if classes not in ("present", "all"):
        raise ValueError(f"classes must be 'present' or 'all', got {classes!r}")

    if ignore_index is not None:
        keep = labels != ignore_index
        probabilities, labels = probabilities[keep], labels[keep]
    empty = probabilities.sum() * 0.0
    if labels.numel() == 0:
        return empty
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= C:
        raise ValueError(f"labels must lie in [0, {C}) outside ignore_index={ignore_index}, "
                         f"found [{low}, {high}]")

    class_ids = torch.arange(C, device=labels.device)
    fg = (labels.unsqueeze(0) == class_ids.unsqueeze(1)).to(probabilities.dtype)  # (C, M)
    if classes == "present":
        present = fg.sum(1) > 0
        fg, probs = fg[present], probabilities.T[present]  # (K, M) each
    else:
        probs = probabilities.T  # (C, M)
    errors = (fg - probs).abs()
    errors_sorted, order = torch.sort(errors, dim=1, descending=True, stable=True)
    grad = lovasz_grad(fg.gather(1, order))  # constant weights: no gradient flows through fg
    return (errors_sorted * grad).sum(1).mean()
