"""Replay latency percentiles per stage (the mIoU comes from :mod:`seal_ros.core.metrics`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["LatencyStats"]


class LatencyStats:
    """Per-stage milliseconds of every processed scan; p50 / p95 / p99 at the end."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, stages: Sequence[str], ms: Sequence[float], total_ms: float) -> None:
        for name, value in zip(stages, ms, strict=True):
            self.samples.setdefault(name, []).append(float(value))
        self.samples.setdefault("total", []).append(float(total_ms))

    def percentiles(self, q: Sequence[float] = (50, 95, 99)) -> dict[str, tuple[float, ...]]:
        """``{stage: (p50, p95, p99)}`` in processing order, ``total`` last."""
        names = [n for n in self.samples if n != "total"] + (["total"] if "total" in self.samples
                                                             else [])
        return {n: tuple(float(v) for v in np.percentile(self.samples[n], q)) for n in names}
