"""One confusion matrix for replay and evaluation: IoU by hand, ignore handling, and the same
matrix from the replay's path (numpy, the node's labels) and evaluate's (torch logits)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from seal_ros.core.metrics import ConfusionMatrix, scores_from_matrix
from seal_ros.core.prediction import labels_from_logits
from seal_ros.labels import IGNORE_CLASS, LabelMap, match_package
from seal_ros.model_package import ModelPackage


def test_confusion_matrix_iou_by_hand():
    cm = ConfusionMatrix(num_classes=4, ignore_id=0)
    # class 1: 3 right, 1 predicted as 2; class 2: 2 right; class 3 absent; -1 not evaluated
    cm.update(prediction=np.array([1, 1, 1, 2, 2, 2, 3]), truth=np.array([1, 1, 1, 1, 2, 2, -1]))
    cm.update(prediction=np.array([1, 1]), truth=np.array([2, 0]))  # truth 0 is ignored: skipped
    scores = cm.scores()
    # class 1: tp 3, fp 1 (truth 2 predicted 1), fn 1 -> 3/5; class 2: tp 2, fp 1, fn 1 -> 2/4
    assert scores.class_names == ("class_1", "class_2", "class_3")
    assert np.isnan(scores.iou[2])
    np.testing.assert_allclose(scores.iou[:2], [3 / 5, 2 / 4])
    np.testing.assert_allclose(scores.miou, (3 / 5 + 2 / 4) / 2)
    assert cm.points == scores.points == 7
    # a class only predicted (never true) counts with IoU 0, as in one matrix over a split
    cm.update(prediction=np.array([3]), truth=np.array([1]))
    assert cm.scores().iou[2] == 0.0 and cm.scores().miou < (3 / 5 + 2 / 4) / 2


def test_hand_computed_iou_and_ignore_handling_from_torch():
    # classes: 0 ignore, 1 car, 2 road, 3 tree (absent everywhere)
    target = torch.tensor([1, 1, 1, 2, 2, 0, 0, 2])
    pred = torch.tensor([1, 1, 2, 2, 2, 1, 2, 1])
    cm = ConfusionMatrix(4, ignore_id=0)
    cm.update(prediction=pred[:4], truth=target[:4])
    cm.update(prediction=pred[4:], truth=target[4:])  # accumulates over batches
    scores = cm.scores(("ignore", "car", "road", "tree"))
    assert cm.matrix.tolist() == [[0, 0, 0, 0], [0, 2, 1, 0], [0, 1, 2, 0], [0, 0, 0, 0]]
    # car: TP 2, FP 1, FN 1 -> 0.5; road: TP 2, FP 1, FN 1 -> 0.5; tree: NaN
    np.testing.assert_allclose(scores.iou[:2], [0.5, 0.5])
    assert math.isnan(scores.iou[2])
    assert scores.miou == 0.5
    assert scores.class_names == ("car", "road", "tree")
    assert "| **mIoU** | **50.00** |" in scores.markdown()
    assert scores.scored_matrix().tolist() == [[2, 1, 0], [1, 2, 0], [0, 0, 0]]


def test_without_an_ignore_class_every_class_is_scored():
    cm = ConfusionMatrix(2, ignore_id=None)
    cm.update(prediction=np.array([0, 1, 1]), truth=np.array([0, 1, -1]))
    scores = cm.scores(("a", "b"))
    assert scores.class_names == ("a", "b") and scores.iou.tolist() == [1.0, 1.0]
    assert scores.accuracy == 1.0 and scores.points == 2


def test_empty_matrix_has_no_miou():
    scores = ConfusionMatrix(3, ignore_id=0).scores()
    assert np.isnan(scores.miou) and np.isnan(scores.accuracy)
    assert np.isnan(scores_from_matrix(np.zeros((3, 3)), ignore_id=0).miou)


def test_bad_updates_are_refused():
    cm = ConfusionMatrix(3, ignore_id=0)
    with pytest.raises(ValueError, match="outside classes 0..2"):
        cm.update(prediction=np.array([1, 3]), truth=np.array([1, 2]))
    with pytest.raises(ValueError, match="outside classes 0..2"):
        cm.update(prediction=np.array([1]), truth=np.array([5]))
    with pytest.raises(ValueError, match="ground-truth ids for"):
        cm.update(prediction=np.array([1, 2]), truth=np.array([1]))
    with pytest.raises(ValueError, match="integer class ids"):
        cm.update(prediction=np.array([1.0]), truth=np.array([1]))
    with pytest.raises(TypeError):
        cm.update(np.array([1]), np.array([1]))  # keywords only: no argument-order mix-ups
    assert cm.points == 0
    cm.update(prediction=np.array([9]), truth=np.array([0]))  # ignored truth: not checked
    assert cm.points == 0


def test_replay_and_evaluate_paths_give_one_matrix():
    """The same scans, scored as the replay does (raw labels -> package classes, the node's uint8
    class ids, numpy) and as ``evaluate`` does (training labels, torch logits -> labels)."""
    label_map = LabelMap.builtin("nuscenes")
    names = label_map.class_names
    package = ModelPackage(model_id="m", onnx=Path("m.onnx"), class_names=names,
                           palette=tuple((0, 0, 0) for _ in names), ignore_id=IGNORE_CLASS)
    mapping = match_package(label_map, package)
    gen = torch.Generator().manual_seed(0)
    replay = ConfusionMatrix(package.num_classes, ignore_id=package.ignore_id)
    offline = ConfusionMatrix(len(names), ignore_id=IGNORE_CLASS)
    reference = np.zeros((len(names), len(names)), dtype=np.int64)
    for _ in range(3):
        raw = torch.randint(0, 32, (5000,), generator=gen).numpy()  # nuScenes lidarseg ids
        logits = 3 * torch.randn(5000, len(names), generator=gen)
        logits[:100, IGNORE_CLASS] = 1e4  # the ignore class never wins, however large
        # replay: the node publishes uint8 class_id; the bag's raw labels become package ids
        class_id, _ = labels_from_logits(logits, ignore_id=package.ignore_id)
        published = class_id.to(torch.uint8).numpy()
        replay.update(prediction=published.astype(np.int64), truth=mapping.to_package(raw))
        # evaluate: frame.train_labels() and the head's logits on the device
        prediction, _ = labels_from_logits(logits, ignore_id=IGNORE_CLASS)
        offline.update(prediction=prediction, truth=torch.from_numpy(label_map.to_train(raw)))
        # SLidR: mask the ignore logit, argmax; drop ignored ground truth
        masked = logits.clone()
        masked[:, IGNORE_CLASS] = -torch.inf
        truth, pred = label_map.to_train(raw), masked.argmax(1).numpy()
        keep = truth != IGNORE_CLASS
        reference += np.bincount(truth[keep] * len(names) + pred[keep],
                                 minlength=len(names) ** 2).reshape(len(names), len(names))
    np.testing.assert_array_equal(replay.matrix, reference)
    np.testing.assert_array_equal(offline.matrix, reference)
    assert reference[:, IGNORE_CLASS].sum() == 0 and reference.sum() > 8_000  # 12 of 32 ids ignored
    a, b = replay.scores(names), offline.scores(names)
    assert a.class_names == b.class_names and a.miou == b.miou
    np.testing.assert_array_equal(a.iou, b.iou)
