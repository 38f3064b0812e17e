"""Export trained networks for the vehicle (ONNX; TensorRT engines are built by the runtime)."""

from seal_train.export.onnx import TENSORRT_OPS, ExportError, check_tensorrt_ops, export_onnx

__all__ = ["ExportError", "TENSORRT_OPS", "check_tensorrt_ops", "export_onnx"]
