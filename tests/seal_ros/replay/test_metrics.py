"""Replay metrics: one confusion matrix over the run (ignore excluded), latency percentiles."""

from __future__ import annotations

import numpy as np

from seal_ros.replay.metrics import ConfusionMatrix, LatencyStats


def test_confusion_matrix_iou_by_hand():
    cm = ConfusionMatrix(num_classes=4, ignore_id=0)
    # class 1: 3 right, 1 predicted as 2; class 2: 2 right; class 3 absent; -1 not evaluated
    cm.update(np.array([1, 1, 1, 1, 2, 2, -1]), np.array([1, 1, 1, 2, 2, 2, 3]))
    cm.update(np.array([2, 0]), np.array([0, 1]))  # truth 0 is the ignore class: counted as is
    iou = cm.iou()
    # class 1: tp 3, fp 1 (truth 0 predicted 1), fn 1 -> 3/5; class 2: tp 2, fp 1, fn 1 -> 2/4
    assert np.isnan(iou[0]) and np.isnan(iou[3])
    np.testing.assert_allclose(iou[1:3], [3 / 5, 2 / 4])
    np.testing.assert_allclose(cm.miou(), (3 / 5 + 2 / 4) / 2)
    assert cm.points == 8
    # a class only predicted (never true) counts with IoU 0, as in one matrix over a split
    cm.update(np.array([1]), np.array([3]))
    assert cm.iou()[3] == 0.0 and cm.miou() < (3 / 5 + 2 / 4) / 2


def test_empty_matrix_has_no_miou():
    assert np.isnan(ConfusionMatrix(3, 0).miou())


def test_latency_percentiles_keep_stage_order_and_total_last():
    stats = LatencyStats()
    for i in range(100):
        stats.add(["decode", "inference"], [1.0, float(i)], total_ms=float(i) + 1.0)
    p = stats.percentiles()
    assert list(p) == ["decode", "inference", "total"]
    assert p["decode"] == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(p["inference"], np.percentile(np.arange(100), [50, 95, 99]))
    np.testing.assert_allclose(p["total"][0], 50.5)
