"""Semantic segmentation scores with SLidR's protocol: one confusion matrix, IoU, mIoU.

The one implementation behind replay's mIoU and ``seal_train evaluate``'s, so the vehicle's figure
and the offline one cannot drift apart. One matrix over the whole split (or run), on
full-resolution points; points whose ground truth is the ignored class (or negative: not
evaluated) are left out; the ignored class is masked out of the logits before the argmax (see
:func:`seal_ros.core.prediction.labels_from_logits`), so no point is predicted as "ignore".
IoU = TP / (TP + FP + FN) per class, NaN when a class has neither ground truth nor prediction;
mIoU averages the classes that are not NaN.

Inputs may be numpy arrays or torch tensors (converted to host numpy at :meth:`update`), so this
module never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ConfusionMatrix", "SegmentationScores", "scores_from_matrix"]


class ConfusionMatrix:
    """(K, K) int64 counts, rows = ground truth, columns = prediction, summed over updates."""

    def __init__(self, num_classes: int, *, ignore_id: int | None) -> None:
        if ignore_id is not None and not 0 <= ignore_id < num_classes:
            raise ValueError(f"ignore_id {ignore_id} outside classes 0..{num_classes - 1}")
        self.num_classes = num_classes
        self.ignore_id = ignore_id
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, *, prediction: Any, truth: Any) -> None:
        """Add one batch: (N,) predicted class ids and (N,) ground-truth class ids.

        Ground truth < 0 (not evaluated) or equal to ``ignore_id`` is left out; every other
        point must have a truth below ``num_classes`` and a prediction in 0..num_classes-1.

        Raises:
            ValueError: shapes differ, ids are not integers, or an id is outside the classes.
        """
        prediction, truth = _ids(prediction, "prediction"), _ids(truth, "truth")
        if truth.shape != prediction.shape:
            raise ValueError(f"{truth.shape} ground-truth ids for {prediction.shape} predictions")
        k = self.num_classes
        keep = truth >= 0
        if self.ignore_id is not None:
            keep &= truth != self.ignore_id
        truth, prediction = truth[keep], prediction[keep]
        outside = (truth >= k) | (prediction < 0) | (prediction >= k)
        if outside.any():
            raise ValueError(f"{int(outside.sum())} evaluated points have ids outside classes "
                             f"0..{k - 1} (truth {np.unique(truth[outside])[:5].tolist()}, "
                             f"prediction {np.unique(prediction[outside])[:5].tolist()})")
        self.matrix += np.bincount(truth * k + prediction, minlength=k * k).reshape(k, k)

    @property
    def points(self) -> int:
        """Points counted so far."""
        return int(self.matrix.sum())

    def scores(self, class_names: tuple[str, ...] | None = None) -> SegmentationScores:
        return scores_from_matrix(self.matrix, ignore_id=self.ignore_id, class_names=class_names)


@dataclass(frozen=True)
class SegmentationScores:
    """IoU per class (the ignored class excluded), mIoU, accuracy and the matrix itself.

    Attributes:
        class_names: (K',) names of the scored classes (all but ``ignore_id``).
        iou: (K',) float64 IoU per scored class, NaN for classes absent from truth and prediction.
        miou: mean of the non-NaN IoUs; NaN when nothing was evaluated.
        accuracy: share of counted points predicted right; NaN when nothing was evaluated.
        matrix: (K, K) int64 counts including the ignored class's (empty) row and column.
        ignore_id: the class left out of the scores, or None.
    """

    class_names: tuple[str, ...]
    iou: np.ndarray
    miou: float
    accuracy: float
    matrix: np.ndarray
    ignore_id: int | None = None

    @property
    def points(self) -> int:
        return int(self.matrix.sum())

    def scored_matrix(self) -> np.ndarray:
        """(K', K') counts without the ignored class's row and column."""
        keep = [c for c in range(len(self.matrix)) if c != self.ignore_id]
        return self.matrix[np.ix_(keep, keep)]

    def markdown(self) -> str:
        lines = ["| class | IoU (%) |", "|---|---:|"]
        for name, value in zip(self.class_names, self.iou, strict=True):
            lines.append(f"| {name} | {'n/a' if np.isnan(value) else f'{100 * value:.2f}'} |")
        lines.append(f"| **mIoU** | **{100 * self.miou:.2f}** |")
        lines.append(f"| accuracy | {100 * self.accuracy:.2f} |")
        return "\n".join(lines)


def scores_from_matrix(matrix: np.ndarray, *, ignore_id: int | None,
                       class_names: tuple[str, ...] | None = None) -> SegmentationScores:
    """Scores of a (K, K) matrix (rows = ground truth), e.g. one saved from an earlier run."""
    matrix = np.asarray(matrix, dtype=np.int64)
    classes = [c for c in range(matrix.shape[0]) if c != ignore_id]
    names = class_names or tuple(f"class_{c}" for c in range(matrix.shape[0]))
    if len(names) != matrix.shape[0]:
        raise ValueError(f"{len(names)} class names for a {matrix.shape} confusion matrix")
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp  # TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)[classes]
    total = matrix.sum()
    miou = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
    return SegmentationScores(tuple(names[c] for c in classes), iou, miou,
                              float(tp.sum() / total) if total else float("nan"), matrix,
                              ignore_id)


def _ids(values: Any, what: str) -> np.ndarray:
    """(N,) int64 host array from a numpy array or a torch tensor (on any device)."""
    if hasattr(values, "detach"):  # a torch tensor: to host memory here, the one boundary
        values = values.detach().cpu().numpy()
    ids = np.asarray(values)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{what}: expected (N,) integer class ids, got {ids.shape} {ids.dtype}")
    return ids.astype(np.int64, copy=False)
