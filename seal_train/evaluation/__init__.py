"""Evaluation: confusion matrix, IoU per class, mIoU (SLidR's protocol), and reports."""

from seal_train.evaluation.metrics import (IGNORE_INDEX, ConfusionMatrix, SegmentationScores,
                                           predict, scores_from_matrix)

__all__ = ["IGNORE_INDEX", "ConfusionMatrix", "SegmentationScores", "predict",
           "scores_from_matrix"]
