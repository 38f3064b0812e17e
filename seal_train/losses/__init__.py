"""Training losses: superpixel InfoNCE (pretraining), Lovász-softmax (fine-tuning)."""

from seal_train.losses.lovasz import lovasz_grad, lovasz_softmax
from seal_train.losses.superpixel import TEMPERATURE, superpixel_infonce

__all__ = ["TEMPERATURE", "lovasz_grad", "lovasz_softmax", "superpixel_infonce"]
