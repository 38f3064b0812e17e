"""Semantic segmentation metrics with SLidR's protocol.

One confusion matrix over the whole split, on full-resolution points; points whose ground truth is
the ignored class (0) are left out; the ignored class is masked out of the logits before argmax, so
no point is ever predicted as "ignore". IoU = TP / (TP + FP + FN) per class, NaN when a class has
neither ground truth nor prediction; mIoU averages the classes that are not NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

IGNORE_INDEX = 0


def predict(logits: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """(N, C) logits -> (N,) class ids, never ``ignore_index``."""
    masked = logits.clone()
    masked[:, ignore_index] = -torch.inf
    return masked.argmax(dim=1)


class ConfusionMatrix:
    """Accumulates a (C, C) matrix (rows: ground truth, columns: prediction) on the device."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX,
                 device: torch.device | str = "cpu") -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add (N,) predicted and (N,) ground-truth class ids; ignored ground truth is skipped."""
        keep = target != self.ignore_index
        index = target[keep] * self.num_classes + prediction[keep]
        self.matrix += torch.bincount(index, minlength=self.num_classes ** 2).view(
            self.num_classes, self.num_classes)

    def result(self, class_names: tuple[str, ...] | None = None) -> SegmentationScores:
        return scores_from_matrix(self.matrix.cpu().numpy(), self.ignore_index, class_names)


@dataclass(frozen=True)
class SegmentationScores:
    """IoU per class (the ignored class excluded), mIoU, accuracy and the matrix itself."""

    class_names: tuple[str, ...]
    iou: np.ndarray  # (K,) float64, NaN for absent classes
    miou: float
    accuracy: float
    matrix: np.ndarray  # (C, C) int64 including the ignored class row/column

    def markdown(self) -> str:
        lines = ["| class | IoU (%) |", "|---|---:|"]
        for name, value in zip(self.class_names, self.iou):
            lines.append(f"| {name} | {'n/a' if np.isnan(value) else f'{100 * value:.2f}'} |")
        lines.append(f"| **mIoU** | **{100 * self.miou:.2f}** |")
        lines.append(f"| accuracy | {100 * self.accuracy:.2f} |")
        return "\n".join(lines)


def scores_from_matrix(matrix: np.ndarray, ignore_index: int = IGNORE_INDEX,
                       class_names: tuple[str, ...] | None = None) -> SegmentationScores:
    matrix = np.asarray(matrix, dtype=np.int64)
    classes = [c for c in range(matrix.shape[0]) if c != ignore_index]
    tp = np.diag(matrix).astype(np.float64)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    union = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)[classes]
    names = class_names or tuple(f"class_{c}" for c in range(matrix.shape[0]))
    total = matrix.sum()
    miou = float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")
    return SegmentationScores(tuple(names[c] for c in classes), iou, miou,
                              float(tp.sum() / total) if total else float("nan"), matrix)
