"""mIoU of a hand-built confusion matrix; the ignored class is never predicted nor scored."""

from __future__ import annotations

import math

import numpy as np
import torch

from seal_train.evaluation import ConfusionMatrix, predict


def test_hand_computed_iou_and_ignore_handling():
    # classes: 0 ignore, 1 car, 2 road, 3 tree (absent everywhere)
    target = torch.tensor([1, 1, 1, 2, 2, 0, 0, 2])
    pred = torch.tensor([1, 1, 2, 2, 2, 1, 2, 1])
    cm = ConfusionMatrix(4)
    cm.update(pred[:4], target[:4])
    cm.update(pred[4:], target[4:])  # accumulates over batches
    scores = cm.result(("ignore", "car", "road", "tree"))
    assert cm.matrix.tolist() == [[0, 0, 0, 0], [0, 2, 1, 0], [0, 1, 2, 0], [0, 0, 0, 0]]
    # car: TP 2, FP 1, FN 1 -> 0.5; road: TP 2, FP 1, FN 1 -> 0.5; tree: NaN
    np.testing.assert_allclose(scores.iou[:2], [0.5, 0.5])
    assert math.isnan(scores.iou[2])
    assert scores.miou == 0.5
    assert scores.class_names == ("car", "road", "tree")
    assert "| **mIoU** | **50.00** |" in scores.markdown()


def test_predict_never_returns_ignore():
    logits = torch.tensor([[9.0, 1.0, 2.0], [5.0, 0.0, -1.0]])
    assert predict(logits).tolist() == [2, 1]
