"""The fp16 twin of an exported network: the graph TensorRT builds for precision fp16.

TensorRT 11 and TensorRT for RTX have no FP16 builder flag: precision comes from the graph's own
types (strongly typed networks), and classic TensorRT 10 builds such graphs too. The twin keeps
the fp32 interface (``features`` in, ``logits`` out, index inputs untouched) and computes in fp16:

- float32 initializers and float32 ``Constant`` / ``ConstantOfShape`` values become float16;
- ``Cast(to=FLOAT)`` becomes ``Cast(to=FLOAT16)``;
- a Cast to fp16 follows every float32 graph input, a Cast to fp32 precedes every float32 output.

The gather-GEMM graph holds nothing else that is float (its shape arithmetic is int64), so this
is the whole conversion; anything float that it does not know (a float attribute, a float value
info of an op it cannot retype) is refused rather than half-converted. Written for this graph:
``onnxconverter-common``'s general converter took minutes on its 20k nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seal_ros.atomic_files import atomic_path
from seal_ros.core.engines import fp16_onnx_path as fp16_path  # where the engine looks for it
from seal_ros.errors import ExportError

__all__ = ["fp16_path", "to_fp16", "write_fp16"]


def _half_tensor(tensor: Any, where: str) -> None:
    import numpy as np
    from onnx import TensorProto, numpy_helper

    if tensor.data_type != TensorProto.FLOAT:
        return
    values = numpy_helper.to_array(tensor)
    largest = np.abs(values[np.isfinite(values)]).max(initial=0.0)
    if largest > 65504.0:
        raise ExportError(f"{where}: a value ({largest:.3g}) overflows fp16")
    tensor.CopyFrom(numpy_helper.from_array(values.astype(np.float16), tensor.name))


def _cast_io(graph: Any, name: str, inward: bool) -> Any:
    """Rename the graph's uses of interface tensor ``name`` to its fp16 twin and return the Cast
    between them (fp32 input -> fp16, or fp16 -> fp32 output)."""
    from onnx import TensorProto, helper

    half = f"{name}__fp16"
    for node in graph.node:
        node.input[:] = [half if n == name else n for n in node.input]
        if not inward:
            node.output[:] = [half if n == name else n for n in node.output]
    if inward:
        return helper.make_node("Cast", [name], [half], to=TensorProto.FLOAT16,
                                name=f"{name}_to_fp16")
    return helper.make_node("Cast", [half], [name], to=TensorProto.FLOAT, name=f"{name}_to_fp32")


def to_fp16(model: Any) -> Any:
    """A copy of ``model`` (an ``onnx.ModelProto``) computing in fp16 with fp32 inputs/outputs."""
    import onnx
    from onnx import AttributeProto, TensorProto

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    for init in graph.initializer:
        _half_tensor(init, f"initializer {init.name}")
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.TENSOR:
                _half_tensor(attr.t, f"{node.op_type} {node.name}")
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
            elif attr.type in (AttributeProto.FLOAT, AttributeProto.FLOATS):
                raise ExportError(f"{node.op_type} {node.name}: float attribute {attr.name!r}; "
                                  f"the fp16 conversion does not know this op")
    del graph.value_info[:]  # stale float32 shapes; the checker infers them again
    casts_in = [_cast_io(graph, value.name, inward=True) for value in graph.input
                if value.type.tensor_type.elem_type == TensorProto.FLOAT]
    casts_out = [_cast_io(graph, value.name, inward=False) for value in graph.output
                 if value.type.tensor_type.elem_type == TensorProto.FLOAT]
    nodes = [*casts_in, *graph.node, *casts_out]
    del graph.node[:]
    graph.node.extend(nodes)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:  # onnx raises several checker/inference error types
        raise ExportError(f"fp16 graph does not check: {err}") from err
    return model


def write_fp16(onnx_path: str | Path) -> Path:
    """Write the fp16 twin of the ONNX at ``onnx_path`` beside it (atomically); its path."""
    import onnx

    out = fp16_path(onnx_path)
    with atomic_path(out) as tmp:
        try:
            onnx.save(to_fp16(onnx.load(str(onnx_path))), str(tmp))
        except ExportError as err:
            raise ExportError(f"{onnx_path}: {err}") from err
    return out
