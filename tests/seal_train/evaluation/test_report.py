"""The report writes the markdown table and both PNGs, the matrix without the ignored class."""

from __future__ import annotations

import numpy as np
import pytest

from seal_ros.core.metrics import ConfusionMatrix
from seal_ros.errors import ConfigError
from seal_train.evaluation import read_scores, write_report


def test_report_files(tmp_path):
    cm = ConfusionMatrix(3, ignore_id=0)
    cm.update(prediction=np.array([1, 1, 2, 2]), truth=np.array([1, 2, 2, 0]))
    scores = cm.scores(("ignore", "car", "road"))
    written = write_report(scores, tmp_path / "report", title="unit")
    assert [p.name for p in written] == ["scores.md", "scores.yaml", "iou_per_class.png",
                                         "confusion_matrix.png"]
    assert all(p.stat().st_size > 0 for p in written)
    text = written[0].read_text()
    assert text.startswith("# unit") and "| car | 50.00 |" in text and "| road | 50.00 |" in text


def test_scores_yaml_reads_back_the_same_scores(tmp_path):
    cm = ConfusionMatrix(5, ignore_id=0)
    cm.update(prediction=np.array([1, 1, 2, 2, 3, 1]), truth=np.array([1, 2, 2, 0, 2, 1]))
    scores = cm.scores(("ignore", "car", "road", "tree", "sky"))
    write_report(scores, tmp_path, title="round trip")
    again, title = read_scores(tmp_path / "scores.yaml")
    assert title == "round trip" and again.class_names == ("car", "road", "tree", "sky")
    np.testing.assert_array_equal(again.matrix, scores.matrix)
    np.testing.assert_array_equal(again.iou, scores.iou)  # NaN for sky in both
    assert again.miou == scores.miou and np.isnan(again.iou[3]) and again.iou[2] == 0.0


def test_a_file_that_is_not_a_scores_file_is_named(tmp_path):
    bad = tmp_path / "scores.yaml"
    bad.write_text("miou: 0.5\n")
    with pytest.raises(ConfigError, match=r"scores.yaml: not a scores file .*KeyError"):
        read_scores(bad)
