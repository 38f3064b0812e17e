"""Pretraining losses."""

from seal_train.losses.superpixel import TEMPERATURE, superpixel_infonce

__all__ = ["TEMPERATURE", "superpixel_infonce"]
