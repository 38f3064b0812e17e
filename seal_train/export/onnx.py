"""Export the gather-GEMM MinkUNet to ONNX with dynamic voxel, pair and point counts.

The network (:class:`seal_ros.core.sparse_net.GatherMinkUNet`) is traced on a small synthetic
example (:func:`export_example`) with one dynamic dim per size of
:func:`~seal_ros.core.sparse_net.dynamic_dims` (points, voxels per scale, each pair and rank
list), so one file serves every scan size. The example's every dynamic size is >= 2, which no
real scan guarantees (the last ranks need voxels with all 26 neighbours).

Two of torch's exporters give the same network (their shape arithmetic differs a little) at the
same onnxruntime speed (MinkUNet34 at 120k points: 7.45 vs 7.70 s, 2 CPU cores); they differ in
export time:

- ``torchscript`` (default; ``torch.onnx.export(dynamo=False)``): records the traced ops and the
  shape arithmetic as it runs; MinkUNet34 66 s, the tiny test net 15 s on 2 CPU cores.
- ``dynamo`` (``torch.export``, torch's default since 2.9): reasons about ~270 symbolic sizes;
  MinkUNet34 245 s, the tiny test net still 124 s (the time goes to the sizes, not the
  layers). torch marks the TorchScript exporter deprecated: this one is the way on when it goes.

The graph is checked by ``onnx.checker`` and against the ONNX operators TensorRT parses
(:data:`TENSORRT_OPS`); scatters with a reduction are refused (DESIGN.md decision 2). Exporter
debug metadata on nodes is dropped (:func:`_strip_debug_metadata`): it was half the file.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from seal_ros.atomic_files import atomic_path
from seal_ros.core.fold import spconv_state_from_checkpoint
from seal_ros.core.kernel_maps import NUM_LEVELS, build_kernel_maps
from seal_ros.core.sparse_net import GatherMinkUNet, dynamic_dims, input_names, network_inputs
from seal_ros.errors import ExportError

__all__ = ["EXPORTERS", "ExportError", "TENSORRT_OPS", "check_export_options", "check_tensorrt_ops",
           "export_example", "export_onnx"]

OPSET = 18
EXPORTERS = ("torchscript", "dynamo")  # torch.onnx exporters; the first is the default

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


def _strip_debug_metadata(model: Any) -> None:
    """Drop the metadata torch's exporter writes on every node and value, in place.

    The dynamo exporter records each node's stack trace, FX node, module path and name scopes:
    for MinkUNet18 (~20k nodes) 19.5 MB of strings, as much as the weights (21.7 MB), holding the
    exporting machine's file paths. No runtime reads them, and outputs do not depend on them.

    Args:
        model: an ``onnx.ModelProto``.
    """
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
            del value.metadata_props[:]
        for node in graph.node:
            del node.metadata_props[:]
            for attr in node.attribute:  # subgraphs of If / Loop
                graphs.extend([attr.g] if attr.HasField("g") else attr.graphs)


def export_example(in_channels: int, stem_kernel: int = 3) -> tuple[torch.Tensor, ...]:
    """Flat network inputs of a synthetic batch in which every dynamic size is >= 2.

    One block per scale s, far apart: 4^3 cells of scale s, one voxel at each cell's corner
    (scale 0: a dense cube of side ``stem_kernel + 1``). A 4^3 block has 8 cells with all 26
    neighbours (every sub-manifold rank filled) and, one level up, 8 parents with all 8 children.
    """
    blocks = []
    for scale in range(NUM_LEVELS + 1):
        side = max(4, stem_kernel + 1) if scale == 0 else 4
        cells = torch.stack(torch.meshgrid(*[torch.arange(side)] * 3, indexing="ij"), -1)
        cells = cells.reshape(-1, 3) * 2**scale
        cells[:, 0] += 256 * scale  # 16 cells apart even at scale 4
        blocks.append(cells)
    cells = torch.cat(blocks)
    coords = torch.cat([torch.zeros(len(cells), 1, dtype=torch.int64), cells], 1).int()
    maps = build_kernel_maps(coords, stem_kernel=stem_kernel)
    features = torch.rand(len(coords), in_channels, generator=torch.Generator().manual_seed(0))
    inverse = torch.arange(len(coords)).repeat(2)  # two points per voxel
    return network_inputs(features, inverse, maps)


def check_export_options(exporter: str, optimize: bool) -> None:
    """Refuse an unknown exporter, and ``optimize`` without dynamo (onnxscript's optimiser took
    11.5 min on the TorchScript graph of the tiny test net)."""
    if exporter not in EXPORTERS:
        raise ExportError(f"unknown exporter {exporter!r}; expected one of {list(EXPORTERS)}")
    if optimize and exporter != "dynamo":
        raise ExportError(f"optimize needs the dynamo exporter, got {exporter!r}")


def _check_example(example: tuple[torch.Tensor, ...], stem_kernel: int) -> None:
    """Refuse an example with a dynamic size below 2: the dynamo exporter would specialise it
    to a constant, and the traced graph would never have run that size."""
    for (name, (axis, _)), tensor in zip(dynamic_dims(stem_kernel).items(), example, strict=True):
        if tensor.shape[axis] < 2:
            raise ExportError(f"example input {name} has {tensor.shape[axis]} entries on axis "
                              f"{axis}; the export example needs >= 2 (use export_example)")


def _dynamic_shapes(stem_kernel: int) -> dict[str, Any]:
    """``dynamic_shapes`` of the dynamo exporter: one ``Dim`` per size name."""
    from torch.export import Dim

    sizes: dict[str, Any] = {}
    shapes: list[Any] = []
    for axis, size in dynamic_dims(stem_kernel).values():
        if size not in sizes:
            sizes[size] = Dim(size, min=0)
        shapes.append({axis: sizes[size]})
    return {"features": shapes[0], "inverse": shapes[1], "maps": tuple(shapes[2:])}


def _dynamic_axes(stem_kernel: int) -> dict[str, dict[int, str]]:
    """``dynamic_axes`` of the TorchScript exporter: input and output name -> {axis: size name}."""
    axes = {name: {axis: size} for name, (axis, size) in dynamic_dims(stem_kernel).items()}
    axes["logits"] = {0: "points"}
    return axes


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' chatter that says nothing about this graph: dynamo's INFO logs of
    removed nodes and its warning that a dim name "will not be used" because other inputs share
    it (inputs of one size share one name on purpose: :func:`dynamic_dims`; the saved graph keeps
    the names, ``test_onnx`` checks), and the TorchScript exporter's deprecation notices (the
    module docstring says why it is the default)."""
    ir_log = logging.getLogger("onnx_ir")
    level = ir_log.level
    ir_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used")
            warnings.filterwarnings("ignore", category=DeprecationWarning,
                                    message=r"You are using the legacy TorchScript-based")
            warnings.filterwarnings("ignore", category=DeprecationWarning,
                                    module=r"torch\.onnx\._internal\.torchscript_exporter")
            yield
    finally:
        ir_log.setLevel(level)


def _trace(net: GatherMinkUNet, example: tuple[torch.Tensor, ...], path: Path, exporter: str,
           optimize: bool) -> Any:
    """Run one of torch's exporters into ``path`` and return the loaded ``onnx.ModelProto``."""
    import onnx

    names = input_names(net.spec.stem_kernel)
    with torch.no_grad(), _quiet_exporter():
        if exporter == "dynamo":
            program = torch.onnx.export(
                net, example, dynamo=True, opset_version=OPSET,
                dynamic_shapes=_dynamic_shapes(net.spec.stem_kernel),
                input_names=names, output_names=["logits"], external_data=False,
                optimize=optimize, verbose=False,
            )
            if program is None:
                raise ExportError("the dynamo exporter returned no program")
            program.save(str(path))
        else:
            torch.onnx.export(net, example, str(path), dynamo=False, opset_version=OPSET,
                              input_names=names, output_names=["logits"],
                              dynamic_axes=_dynamic_axes(net.spec.stem_kernel),
                              do_constant_folding=True)
    return onnx.load(str(path))


def export_onnx(
    model_or_state: GatherMinkUNet | Mapping[str, Any],
    out_path: str | Path,
    example_inputs: tuple[torch.Tensor, ...] | None = None,
    overwrite: bool = False,
    optimize: bool = False,
    exporter: str = EXPORTERS[0],
) -> Path:
    """Export to ONNX with dynamic voxel, pair and point counts and check the graph.

    Args:
        model_or_state: a :class:`GatherMinkUNet`, a spconv MinkUNet state dict, or a Seal
            checkpoint dict (``{"model": {"backbone....": ...}}``).
        out_path: ``.onnx`` file to write.
        example_inputs: flat inputs to trace (from :func:`seal_ros.core.sparse_net.network_inputs`)
            with every dynamic size >= 2; None traces :func:`export_example`, which always is.
        overwrite: replace an existing file.
        optimize: run the dynamo exporter's graph optimiser (dynamo only:
            :func:`check_export_options`; MinkUNet34 takes many minutes; onnxruntime optimises
            the graph when it loads it).
        exporter: one of :data:`EXPORTERS` (module docstring: same network, different speed).

    Returns:
        The written path.

    Raises:
        ExportError: existing output, unknown exporter, optimize without dynamo, export failure,
            or a graph TensorRT cannot parse.
    """
    import onnx

    out_path = Path(out_path)
    check_export_options(exporter, optimize)
    if out_path.exists() and not overwrite:
        raise ExportError(f"{out_path} exists; pass overwrite=True to replace it")
    if isinstance(model_or_state, GatherMinkUNet):
        net = model_or_state.eval()
    else:
        net = GatherMinkUNet.from_spconv(spconv_state_from_checkpoint(model_or_state))
    stem_kernel = net.spec.stem_kernel
    if example_inputs is None:
        example_inputs = export_example(net.spec.in_channels, stem_kernel)
    n_inputs = len(input_names(stem_kernel))
    if len(example_inputs) != n_inputs:
        raise ExportError(f"expected {n_inputs} example inputs, got {len(example_inputs)}")
    _check_example(example_inputs, stem_kernel)
    with atomic_path(out_path) as tmp:
        try:
            model = _trace(net, example_inputs, tmp, exporter, optimize)
            _strip_debug_metadata(model)
            onnx.checker.check_model(model, full_check=True)
            onnx.save(model, str(tmp))
        except Exception as err:  # exporter errors are of many types
            raise ExportError(f"{out_path}: ONNX export ({exporter}) failed: {err}") from err
        problems = check_tensorrt_ops(model)
        if problems:
            raise ExportError(f"{out_path}: not deployable with TensorRT: " + "; ".join(problems))
    return out_path
