"""The report writes the markdown table and both PNGs, the matrix without the ignored class."""

from __future__ import annotations

import numpy as np

from seal_ros.core.metrics import ConfusionMatrix
from seal_train.evaluation import write_report


def test_report_files(tmp_path):
    cm = ConfusionMatrix(3, ignore_id=0)
    cm.update(prediction=np.array([1, 1, 2, 2]), truth=np.array([1, 2, 2, 0]))
    scores = cm.scores(("ignore", "car", "road"))
    written = write_report(scores, tmp_path / "report", title="unit")
    assert [p.name for p in written] == ["scores.md", "iou_per_class.png", "confusion_matrix.png"]
    assert all(p.stat().st_size > 0 for p in written)
    text = written[0].read_text()
    assert text.startswith("# unit") and "| car | 50.00 |" in text and "| road | 50.00 |" in text
