"""Replay latency percentiles: stage order kept, total last."""

from __future__ import annotations

import numpy as np

from seal_ros.replay.metrics import LatencyStats


def test_latency_percentiles_keep_stage_order_and_total_last():
    stats = LatencyStats()
    for i in range(100):
        stats.add(["decode", "inference"], [1.0, float(i)], total_ms=float(i) + 1.0)
    p = stats.percentiles()
    assert list(p) == ["decode", "inference", "total"]
    assert p["decode"] == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(p["inference"], np.percentile(np.arange(100), [50, 95, 99]))
    np.testing.assert_allclose(p["total"][0], 50.5)
