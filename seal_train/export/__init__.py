"""Export trained networks for the vehicle: ONNX graph, model package, TensorRT engine."""

from seal_train.export.onnx import TENSORRT_OPS, ExportError, check_tensorrt_ops, export_onnx
from seal_train.export.package import ExportResult, build_tensorrt_engine, export_package
from seal_train.export.source import ExportSource, load_export_source

__all__ = ["ExportError", "ExportResult", "ExportSource", "TENSORRT_OPS", "build_tensorrt_engine",
           "check_tensorrt_ops", "export_onnx", "export_package", "load_export_source"]
