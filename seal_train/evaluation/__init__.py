"""Evaluation: confusion matrix, IoU per class, mIoU (SLidR's protocol), and reports."""

from seal_train.evaluation.metrics import (IGNORE_INDEX, ConfusionMatrix, SegmentationScores,
                                           predict, scores_from_matrix)
from seal_train.evaluation.report import write_report

__all__ = ["IGNORE_INDEX", "ConfusionMatrix", "SegmentationScores", "predict",
           "scores_from_matrix", "write_report"]
