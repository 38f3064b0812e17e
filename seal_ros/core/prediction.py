"""Logits -> class ids and probabilities: the one rule the node, replay and evaluation share.

SLidR's protocol masks the ignored class at prediction, so no point is ever labelled "ignore";
the node and ``seal_train evaluate`` both call :func:`labels_from_logits`, so what the vehicle
publishes and what the offline mIoU scores are the same argmax.
"""

from __future__ import annotations

import torch

__all__ = ["labels_from_logits"]


@torch.no_grad()  # labels are not differentiable; the in-place mask needs no graph
def labels_from_logits(logits: torch.Tensor, *, ignore_id: int | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) logits -> (N,) int64 class ids (never ``ignore_id``) and (N,) float32 softmax
    probabilities of those classes (over all K classes), on the logits' device.

    The argmax runs on the logits with ``ignore_id`` at -inf (softmax is monotonic): unlike
    zeroed probabilities it cannot fall back to ``ignore_id`` when every other class's
    probability underflows to 0.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits are {tuple(logits.shape)}, expected (points, classes)")
    if ignore_id is not None and not 0 <= ignore_id < logits.shape[1]:
        raise ValueError(f"ignore_id {ignore_id} outside the {logits.shape[1]} classes")
    logits = logits.float()
    probabilities = torch.softmax(logits, dim=1)
    if ignore_id is not None:
        logits = logits.clone()
        logits[:, ignore_id] = -torch.inf
    class_id = logits.argmax(dim=1)
    return class_id, probabilities.gather(1, class_id[:, None]).squeeze(1)
