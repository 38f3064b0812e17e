"""Replay figures: one confusion matrix over the run (SLidR's protocol), latency percentiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ConfusionMatrix", "LatencyStats"]


class ConfusionMatrix:
    """(K, K) int64 counts, rows = ground truth, columns = prediction; -1 ground truth skipped."""

    def __init__(self, num_classes: int, ignore_id: int | None) -> None:
        self.num_classes = num_classes
        self.ignore_id = ignore_id
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, truth: np.ndarray, prediction: np.ndarray) -> None:
        """Add one scan: (N,) package ids (-1 = not evaluated) and (N,) predicted ids."""
        truth = np.asarray(truth, dtype=np.int64)
        prediction = np.asarray(prediction, dtype=np.int64)
        if truth.shape != prediction.shape:
            raise ValueError(f"{truth.shape} labels for {prediction.shape} predictions")
        keep = (truth >= 0) & (prediction >= 0) & (prediction < self.num_classes)
        index = truth[keep] * self.num_classes + prediction[keep]
        self.matrix += np.bincount(index, minlength=self.num_classes ** 2).reshape(
            self.num_classes, self.num_classes)

    @property
    def points(self) -> int:
        return int(self.matrix.sum())

    def iou(self) -> np.ndarray:
        """(K,) IoU per class; NaN for classes absent from truth and prediction, and ignore."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, tp / union, np.nan)
        if self.ignore_id is not None:
            iou[self.ignore_id] = np.nan
        return iou

    def miou(self) -> float:
        """Mean IoU over the classes present (ignore excluded); NaN when nothing was evaluated."""
        iou = self.iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


class LatencyStats:
    """Per-stage milliseconds of every processed scan; p50 / p95 / p99 at the end."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, stages: Sequence[str], ms: Sequence[float], total_ms: float) -> None:
        for name, value in zip(stages, ms):
            self.samples.setdefault(name, []).append(float(value))
        self.samples.setdefault("total", []).append(float(total_ms))

    def percentiles(self, q: Sequence[float] = (50, 95, 99)) -> dict[str, tuple[float, ...]]:
        """``{stage: (p50, p95, p99)}`` in processing order, ``total`` last."""
        names = [n for n in self.samples if n != "total"] + (["total"] if "total" in self.samples
                                                             else [])
        return {n: tuple(float(v) for v in np.percentile(self.samples[n], q)) for n in names}
