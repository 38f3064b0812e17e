"""Names of the inference engines and of TensorRT's precisions, without importing torch, so that
configuration readers (node parameters, launch files, command lines) check them cheaply; the
engines themselves are in :mod:`seal_ros.core.engines`."""

from __future__ import annotations

__all__ = ["ENGINES", "PRECISIONS", "TENSORRT_MODULES"]

ENGINES = ("torch", "gather", "onnxruntime", "tensorrt")
"""Engine names (``engine`` parameter); :data:`seal_ros.core.engines.ENGINES` maps each to its
class."""

PRECISIONS = ("fp16", "fp32")
"""TensorRT precisions (``precision`` parameter, ``export --precision``)."""

TENSORRT_MODULES = ("tensorrt", "tensorrt_rtx")
"""Python modules of TensorRT, in the order tried: classic TensorRT (vehicles: Jetson, DRIVE, x86
with NVIDIA's packages), then TensorRT for RTX (PyPI; parses and builds without a GPU)."""
