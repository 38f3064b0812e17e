"""Seal offline tools: datasets and bags -> superpixels -> pretraining -> fine-tuning -> export."""

__version__ = "0.1.0"
