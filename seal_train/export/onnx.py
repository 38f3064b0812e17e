"""Export the gather-GEMM MinkUNet to ONNX with dynamic voxel, pair and point counts.

The network (:class:`seal_ros.core.sparse_net.GatherMinkUNet`) is exported by the dynamo exporter
(``torch.onnx.export(dynamo=True)``) with one dynamic dim per voxel count, per kernel-offset pair
count and for the point count, so one file serves every scan size. The graph is checked by
``onnx.checker`` and against the ONNX operators TensorRT parses (:data:`TENSORRT_OPS`); scatters
with a reduction are refused (DESIGN.md decision 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seal_ros.core.fold import spconv_state_from_checkpoint
from seal_ros.core.sparse_net import GatherMinkUNet, input_names
from seal_train.errors import ExportError

__all__ = ["ExportError", "TENSORRT_OPS", "check_tensorrt_ops", "export_onnx"]

OPSET = 18

# ONNX operators TensorRT 10 parses natively. Source: onnx/onnx-tensorrt, docs/operators.md
# ("Supported ONNX Operators", TensorRT 10.x), ops marked Y; subset relevant to this project plus
# the common ones. ScatterElements/ScatterND are listed there; their `reduction` attribute is
# checked separately (TensorRT < 10 rejects reductions, newer versions need a plugin for some).
TENSORRT_OPS = frozenset({
    "Abs", "Add", "And", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast", "Ceil",
    "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "CumSum", "Div",
    "Einsum", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "GatherElements",
    "GatherND", "Gemm", "Greater", "GreaterOrEqual", "Identity", "If", "LayerNormalization",
    "Less", "LessOrEqual", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Min", "Mod", "Mul",
    "Neg", "NonZero", "Not", "Or", "Pad", "Pow", "Range", "Reciprocal", "ReduceMax", "ReduceMean",
    "ReduceMin", "ReduceSum", "Relu", "Reshape", "Resize", "ScatterElements", "ScatterND",
    "Shape", "Sigmoid", "Sign", "Size", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub",
    "Sum", "Tanh", "Tile", "TopK", "Transpose", "Unsqueeze", "Where",
})


def check_tensorrt_ops(model: Any) -> list[str]:
    """Problems that would stop TensorRT parsing an ONNX model (empty when it is fine).

    Args:
        model: an ``onnx.ModelProto``.
    """
    problems = []
    for node in model.graph.node:
        if node.op_type not in TENSORRT_OPS:
            problems.append(f"{node.name}: {node.op_type} is not a TensorRT ONNX operator")
        if node.op_type in ("ScatterElements", "ScatterND"):
            for attr in node.attribute:
                if attr.name == "reduction" and attr.s not in (b"", b"none"):
                    problems.append(f"{node.name}: {node.op_type} with reduction "
                                    f"{attr.s.decode()!r} (reduction-free scatters only)")
    return problems


def _dynamic_shapes(example: tuple[torch.Tensor, ...], names: list[str]) -> dict[str, Any]:
    from torch.export import Dim

    shapes: list[Any] = []
    for name, tensor in zip(names, example):
        if name == "features":
            shapes.append({0: Dim("voxels0", min=2)})
        elif name == "inverse":
            shapes.append({0: Dim("points", min=2)})
        elif name.startswith("coords"):
            shapes.append({0: Dim(f"voxels{name[len('coords'):]}", min=2)})
        else:  # (2, P) pair list
            shapes.append({1: Dim(f"pairs_{name}", min=2)})
        if tensor.ndim == 2 and name.startswith(("subm", "down", "stem")) and tensor.shape[1] < 2:
            raise ExportError(f"example input {name} has {tensor.shape[1]} pairs; the export "
                              "example needs >= 2 per offset (use a larger scan)")
    return {"features": shapes[0], "inverse": shapes[1], "maps": tuple(shapes[2:])}


def export_onnx(
    model_or_state: GatherMinkUNet | Mapping[str, Any],
    out_path: str | Path,
    example_inputs: tuple[torch.Tensor, ...],
    overwrite: bool = False,
    optimize: bool = True,
) -> Path:
    """Export to ONNX with dynamic voxel, pair and point counts and check the graph.

    Args:
        model_or_state: a :class:`GatherMinkUNet`, a spconv MinkUNet state dict, or a Seal
            checkpoint dict (``{"model": {"backbone....": ...}}``).
        out_path: ``.onnx`` file to write.
        example_inputs: flat inputs from :func:`seal_ros.core.sparse_net.network_inputs` of a scan
            large enough that every offset has >= 2 pairs.
        overwrite: replace an existing file.
        optimize: run the exporter's graph optimiser (slow on big graphs: MinkUNet34 takes
            many minutes on 2 cores; the unoptimised graph has the same op types).

    Returns:
        The written path.

    Raises:
        ExportError: existing output, export failure, or a graph TensorRT cannot parse.
    """
    import onnx

    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise ExportError(f"{out_path} exists; pass overwrite=True to replace it")
    if isinstance(model_or_state, GatherMinkUNet):
        net = model_or_state.eval()
    else:
        net = GatherMinkUNet.from_spconv(spconv_state_from_checkpoint(model_or_state))
    names = input_names(net.spec.stem_kernel)
    if len(example_inputs) != len(names):
        raise ExportError(f"expected {len(names)} example inputs, got {len(example_inputs)}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".onnx.tmp")
    try:
        with torch.no_grad():
            program = torch.onnx.export(
                net, example_inputs, dynamo=True, opset_version=OPSET,
                dynamic_shapes=_dynamic_shapes(example_inputs, names),  # forward(f, inv, *maps)
                input_names=names, output_names=["logits"], external_data=False,
                optimize=optimize,
            )
        program.save(str(tmp))
        model = onnx.load(str(tmp))
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:  # exporter errors are of many types
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{out_path}: ONNX export failed: {err}") from err
    problems = check_tensorrt_ops(model)
    if problems:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{out_path}: not deployable with TensorRT: " + "; ".join(problems))
    tmp.replace(out_path)
    return out_path
