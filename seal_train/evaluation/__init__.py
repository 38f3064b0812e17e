"""Evaluation reports (markdown table, IoU and confusion-matrix PNGs).

The confusion matrix and scores are :mod:`seal_ros.core.metrics` and the logits -> labels rule is
:func:`seal_ros.core.prediction.labels_from_logits`, shared with the vehicle's replay, so the
offline mIoU and the replay's are one computation.
"""

from seal_train.evaluation.report import SCORES_FILE, read_scores, write_report

__all__ = ["SCORES_FILE", "read_scores", "write_report"]
