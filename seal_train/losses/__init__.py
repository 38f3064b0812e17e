"""Training losses. Pretraining (Seal's L = L^vfm + L^tmp + L^p2s): superpixel InfoNCE (spatial,
camera-to-LiDAR, with optional point weighting and class-aware negatives), superpoint temporal
InfoNCE, point-to-segment InfoNCE. Fine-tuning: Lovász-softmax."""

from seal_train.losses.lovasz import lovasz_grad, lovasz_softmax
from seal_train.losses.point_segment import point_to_segment_infonce
from seal_train.losses.superpixel import TEMPERATURE, Weighting, superpixel_infonce
from seal_train.losses.temporal import TemporalLoss, temporal_infonce

__all__ = ["TEMPERATURE", "TemporalLoss", "Weighting", "lovasz_grad", "lovasz_softmax",
           "point_to_segment_infonce", "superpixel_infonce", "temporal_infonce"]
