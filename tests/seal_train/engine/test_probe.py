"""Linear probing and evaluation on a tiny synthetic drive: figures, files, and agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seal_train.config import load_config
from seal_train.engine.probe import ProbeConfig, evaluate, probe
from seal_train.engine.synthetic import synthetic_drive
from seal_train.sources.nuscenes import NuScenesSource


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    root = synthetic_drive(2, 3, 0, cache)
    (cache / "val.txt").write_text("scene-0001\n")
    return cache, root


def test_probe_random_backbone_and_evaluate_agree(drive, tmp_path):
    """Defaults: the head trains on the drive's train split (scene 0) and is scored on its val
    split (scene 1), as SLidR's protocol on nuScenes."""
    cache, root = drive
    cfg = load_config(ProbeConfig, overrides=[
        f"out_dir={tmp_path / 'probe'}", f"data.path={root}", "model.width=0.25", "epochs=20",
        "points_per_frame=4000"])
    result = probe(cfg)
    assert result.held_out
    scores = result.scores
    val = NuScenesSource(root, "v1.0-mini", cache / "val.txt", load_images=False)
    assert val.scenes == ["scene-0001"]
    labelled = sum(int((frame.train_labels() != 0).sum()) for frame in val)
    assert scores.matrix.sum() == labelled  # every labelled val point scored, no train point
    assert len(scores.iou) == 16 and 0.0 <= scores.miou <= 1.0
    # The head learnt something: better than always predicting the most common class.
    assert scores.accuracy > 0.3
    assert {p.name for p in result.report} == {"scores.md", "scores.yaml", "iou_per_class.png",
                                               "confusion_matrix.png", "report.md"}
    run_report = result.report[-1].read_text()  # the run report links the scores' pictures
    assert "## Scores: run" in run_report and "](../iou_per_class.png)" in run_report
    saved = torch.load(result.head_path, weights_only=True)
    assert saved["class_names"][4] == "car" and saved["checkpoint"] is None
    again, written = evaluate(result.head_path, None, "val", tmp_path / "eval")
    np.testing.assert_array_equal(again.matrix, scores.matrix)
    assert (tmp_path / "eval" / "scores.md").read_text().count("|") > 40


def test_probe_on_the_same_frames_says_it_is_not_held_out(drive, tmp_path, caplog):
    cache, root = drive
    cfg = load_config(ProbeConfig, overrides=[
        f"out_dir={tmp_path / 'probe'}", f"data.path={root}", "train_split=all",
        "val_split=all", "model.width=0.25", "epochs=2", "points_per_frame=500"])
    with caplog.at_level("WARNING"):
        result = probe(cfg)
    assert not result.held_out
    assert "not a held-out figure" in caplog.text
