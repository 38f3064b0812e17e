"""Inference engines: one interface, four back ends (DESIGN.md decision 3).

``Engine.infer(features, inverse, maps) -> logits`` takes the voxel features (M0, C) float32, the
point-to-voxel inverse map (N,) int64 and the :class:`~seal_ros.core.kernel_maps.KernelMaps` of the
scan, and returns per-point outputs (N, K) float32 torch tensors.

- ``torch``: spconv eager MinkUNet (needs the coords of scale 0 and the grid shape: taken from
  maps).
- ``gather``: the gather-GEMM torch module (:class:`~seal_ros.core.sparse_net.GatherMinkUNet`).
- ``onnxruntime``: a session over the exported ONNX (CUDA provider when available, else CPU).
- ``tensorrt``: builds an engine from the ONNX on first start (optimisation profile min/opt/max
  for every dynamic dim, fp16 or fp32), caches the serialized plan next to the ONNX under a name
  keyed by TensorRT module and version, target GPU, precision and profile; ``build_only`` builds
  and returns. Classic ``tensorrt`` or ``tensorrt_rtx``, whichever imports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from seal_ros.atomic_files import write_bytes
from seal_ros.core import engine_names
from seal_ros.core.engine_names import PRECISIONS
from seal_ros.core.fold import spconv_state_from_checkpoint
from seal_ros.core.kernel_maps import KernelMaps
from seal_ros.core.sparse_net import GatherMinkUNet, input_names, network_inputs
from seal_ros.errors import EngineError, SealError
from seal_ros.torch_files import load_torch_file

__all__ = ["ENGINES", "Engine", "EngineError", "GatherEngine", "OnnxRuntimeEngine",
           "TensorRTEngine", "TorchEngine", "engine_target", "fp16_onnx_path", "import_tensorrt",
           "parse_onnx"]

log = logging.getLogger(__name__)


class Engine:
    """Runs the segmentation network on one voxelised scan."""

    name = "base"

    def infer(self, features: torch.Tensor, inverse: torch.Tensor, maps: KernelMaps
              ) -> torch.Tensor:
        """Per-point outputs (N, K) float32."""
        raise NotImplementedError


def _load_state(source: Mapping[str, Any] | str | Path) -> dict[str, torch.Tensor]:
    checkpoint = (load_torch_file(source, "checkpoint", EngineError)
                  if isinstance(source, (str, Path)) else source)
    try:
        return spconv_state_from_checkpoint(checkpoint)
    except SealError as err:
        raise EngineError(str(err)) from err


class TorchEngine(Engine):
    """spconv eager MinkUNet (eval mode) rebuilt from a state dict or checkpoint."""

    name = "torch"

    def __init__(self, checkpoint: Mapping[str, Any] | str | Path, device: str = "cpu") -> None:
        from seal_ros.core.fold import infer_spec
        from seal_ros.core.minkunet import MinkUNet

        state = _load_state(checkpoint)
        spec = infer_spec(state)
        self.model = MinkUNet(spec.in_channels, spec.out_channels, spec.layers, spec.planes,
                              spec.init_dim, spec.stem_kernel, bn_momentum=0.05)
        self.model.load_state_dict(state, strict=True)
        self.model.to(device).eval()

    @torch.no_grad()
    def infer(self, features: torch.Tensor, inverse: torch.Tensor, maps: KernelMaps,
              spatial_shape: tuple[int, int, int] | None = None) -> torch.Tensor:
        from seal_ros.core.voxelize import SparseBatch

        coords = maps.coords[0]  # network row order: features and inverse follow it
        features, inverse = maps.network_order(features, inverse)
        if spatial_shape is None:
            i, j, k = (int(s) + 1 for s in coords[:, 1:].amax(0).tolist())
            spatial_shape = (i, j, k)
        batch_size = int(coords[:, 0].max()) + 1 if coords.shape[0] else 1
        offsets = torch.zeros(batch_size + 1, dtype=torch.int64)
        batch = SparseBatch(coords=coords, features=features, inverse=inverse, offsets=offsets,
                            spatial_shape=spatial_shape)
        return self.model(batch)


class GatherEngine(Engine):
    """The gather-GEMM torch module (BatchNorm folded), eager."""

    name = "gather"

    def __init__(self, checkpoint: Mapping[str, Any] | str | Path, device: str = "cpu") -> None:
        self.net = GatherMinkUNet.from_spconv(_load_state(checkpoint)).to(device)

    @torch.no_grad()
    def infer(self, features: torch.Tensor, inverse: torch.Tensor, maps: KernelMaps
              ) -> torch.Tensor:
        return self.net(*network_inputs(features, inverse, maps))


def _check_onnx(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path}: no such ONNX file (export it with `seal_train export`)")
    return path


class OnnxRuntimeEngine(Engine):
    """onnxruntime session over the exported ONNX."""

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise EngineError("onnxruntime engine: `onnxruntime` is not installed") from err
        path = _check_onnx(onnx_path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Idle workers would busy-wait after every run and take the cores from the next scan's
        # decode / voxelise / kernel maps, which run in this process right after inference.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own exception types
            raise EngineError(f"{path}: onnxruntime cannot load it: {err}") from err
        self.names = [i.name for i in self.session.get_inputs()]

    def infer(self, features: torch.Tensor, inverse: torch.Tensor, maps: KernelMaps
              ) -> torch.Tensor:
        flat = network_inputs(features, inverse, maps)
        if len(flat) != len(self.names):
            raise EngineError(f"model takes {len(self.names)} inputs, maps give {len(flat)}")
        feed = {n: t.detach().cpu().numpy() for n, t in zip(self.names, flat, strict=True)}
        return torch.from_numpy(self.session.run(None, feed)[0])


def import_tensorrt(order: tuple[str, ...] | None = None) -> Any:
    """The first TensorRT module of ``order`` (default
    :data:`~seal_ros.core.engine_names.TENSORRT_MODULES`) that imports.

    Raises:
        EngineError: none imports (the message names them all).
    """
    import importlib

    errors = []
    for name in order or engine_names.TENSORRT_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as err:
            errors.append(f"{name}: {err}")
    raise EngineError("tensorrt engine: no TensorRT Python module imports ("
                      + "; ".join(errors) + "); install NVIDIA's TensorRT or "
                      "`pip install tensorrt-rtx-cu12`")


def fp16_onnx_path(onnx_path: str | Path) -> Path:
    """Where the fp16 twin of an exported ONNX lives: ``model.onnx`` -> ``model.fp16.onnx``."""
    path = Path(onnx_path)
    return path.with_name(f"{path.stem}.fp16.onnx")


def parse_onnx(trt: Any, path: str | Path, strongly_typed: bool,
               logger: Any = None) -> tuple[Any, Any, Any]:
    """Parse ``path`` with TensorRT's own ONNX parser; ``(builder, network, parser)``, all three
    to be kept alive while the network is used (the parser owns the weights).

    Raises:
        EngineError: the parser reports errors (all of them, in the message).
    """
    logger = logger or trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"{path}: TensorRT cannot parse it: {errors}")
    return builder, network, parser


def engine_target(trt: Any) -> str:
    """What an engine is built for, as the cache key names it.

    Classic TensorRT builds for the GPU it runs on (its name and compute capability): a plan from
    another GPU must not be loaded. TensorRT for RTX builds a portable plan, specialised for the
    GPU at first run ("rtx-jit"), and needs no GPU to build.
    """
    if trt.__name__ == "tensorrt_rtx":
        return "rtx-jit"
    if not torch.cuda.is_available():
        raise EngineError("tensorrt engine: classic TensorRT builds on the GPU that runs the "
                          "engine, and there is no CUDA device (TensorRT for RTX can build "
                          "without one)")
    major, minor = torch.cuda.get_device_capability(0)
    gpu = torch.cuda.get_device_name(0).replace(" ", "_")
    return f"{gpu}-sm{major}{minor}"


class TensorRTEngine(Engine):
    """TensorRT engine built from the ONNX on first start and cached next to it.

    fp32 builds the package's ONNX; fp16 builds its fp16-typed twin (``onnx_fp16``, written by
    ``seal_train export``; weights fp16, inputs and logits fp32) as a strongly typed network: the
    one precision rule that classic TensorRT 10, TensorRT 11 and TensorRT for RTX (which have no
    FP16 builder flag) all follow.

    Args:
        onnx_path: the exported ONNX (fp32).
        profile: ``{input name: (min, opt, max)}`` sizes of each input's dynamic dim (voxels,
            points or pairs); every dynamic input must be listed.
        precision: ``"fp16"`` or ``"fp32"``.
        build_only: build (or find) the cached engine and stop; :meth:`infer` then raises. Needs
            no GPU with TensorRT for RTX.
        workspace_bytes: builder workspace limit; None leaves TensorRT's default (the device's
            memory; without a GPU TensorRT for RTX fails to reserve a fixed 1 GiB one).
        onnx_fp16: the fp16 graph (precision fp16); default ``<onnx stem>.fp16.onnx`` beside it.
        module: TensorRT module names to try, in order (default:
            :data:`~seal_ros.core.engine_names.TENSORRT_MODULES`).
    """

    name = "tensorrt"

    def __init__(self, onnx_path: str | Path, profile: Mapping[str, tuple[int, int, int]],
                 precision: str = "fp16", build_only: bool = False,
                 workspace_bytes: int | None = None, onnx_fp16: str | Path | None = None,
                 module: tuple[str, ...] | None = None) -> None:
        if precision not in PRECISIONS:
            raise EngineError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        trt = import_tensorrt(module)
        if not build_only and not torch.cuda.is_available():
            raise EngineError(f"tensorrt engine: running an engine needs a CUDA device "
                              f"({trt.__name__} {trt.__version__} is installed; build_only "
                              f"builds without running)")
        self.trt = trt
        onnx_path = self.model_path = _check_onnx(onnx_path)
        if precision == "fp16":
            onnx_path = Path(onnx_fp16) if onnx_fp16 is not None else fp16_onnx_path(onnx_path)
            if not onnx_path.is_file():
                raise EngineError(f"{onnx_path}: no such ONNX file (the fp16 graph TensorRT "
                                  f"builds for precision fp16; `seal_train export` writes it)")
        self.onnx_path = onnx_path
        self.profile = {k: tuple(int(x) for x in v) for k, v in profile.items()}
        self.precision = precision
        self.logger = trt.Logger(trt.Logger.ERROR)
        self.engine_path = self.cache_path()
        self.build_seconds = 0.0
        if self.engine_path.is_file():
            plan = self.engine_path.read_bytes()
            log.info("tensorrt: loading cached engine %s", self.engine_path)
        else:
            start = time.perf_counter()
            plan = self._build(workspace_bytes)
            self.build_seconds = time.perf_counter() - start
            write_bytes(self.engine_path, plan)
            log.info("tensorrt: built %s in %.0f s", self.engine_path, self.build_seconds)
        self.engine = None
        if not build_only:
            runtime = trt.Runtime(self.logger)
            self.engine = runtime.deserialize_cuda_engine(plan)
            if self.engine is None:
                raise EngineError(f"{self.engine_path}: cannot deserialize (delete it to rebuild)")
            self.context = self.engine.create_execution_context()

    def cache_path(self) -> Path:
        """Engine file beside the ONNX:
        ``<onnx stem>.<precision>.<module><version>.<target>.<profile hash>.engine``, e.g.
        ``model.fp16.tensorrt_rtx1.7.1.116.rtx-jit.3f2a9c01de.engine`` (target:
        :func:`engine_target`)."""
        digest = hashlib.sha1(json.dumps(sorted(self.profile.items())).encode()).hexdigest()[:10]
        name = (f"{self.model_path.stem}.{self.precision}.{self.trt.__name__}"
                f"{self.trt.__version__}.{engine_target(self.trt)}.{digest}.engine")
        return self.model_path.with_name(name)

    def _build(self, workspace_bytes: int | None) -> bytes:
        trt = self.trt
        log.info("tensorrt: building the engine from %s, this takes minutes", self.onnx_path)
        builder, network, _parser = parse_onnx(trt, self.onnx_path, self.precision == "fp16",
                                               self.logger)
        config = builder.create_builder_config()
        if workspace_bytes is not None:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
        if self.precision == "fp32":
            config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32 (TF32 is on by default)
        opt = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shape = list(tensor.shape)
            dynamic = [d for d, s in enumerate(shape) if s < 0]
            if not dynamic:
                continue
            if tensor.name not in self.profile:
                raise EngineError(f"tensorrt profile: no (min, opt, max) for input {tensor.name}")
            sizes = []
            for value in self.profile[tensor.name]:
                sizes.append(tuple(value if s < 0 else s for s in shape))
            opt.set_shape(tensor.name, *sizes)
        config.add_optimization_profile(opt)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise EngineError(f"{self.onnx_path}: TensorRT engine build failed")
        return bytes(plan)

    def infer(self, features: torch.Tensor, inverse: torch.Tensor, maps: KernelMaps
              ) -> torch.Tensor:
        if self.engine is None:
            raise EngineError("tensorrt engine was opened with build_only=True")
        names = input_names(maps.stem_kernel)
        flat = network_inputs(features, inverse, maps)
        keep = []
        for name, tensor in zip(names, flat, strict=True):
            tensor = tensor.cuda().contiguous()
            keep.append(tensor)
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        out_shape = tuple(self.context.get_tensor_shape("logits"))
        out = torch.empty(out_shape, dtype=torch.float32, device="cuda")
        self.context.set_tensor_address("logits", out.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise EngineError("tensorrt: execution failed")
        stream.synchronize()
        return out


ENGINES: dict[str, type[Engine]] = {
    "torch": TorchEngine,
    "gather": GatherEngine,
    "onnxruntime": OnnxRuntimeEngine,
    "tensorrt": TensorRTEngine,
}
"""Engine name (:data:`seal_ros.core.engine_names.ENGINES`, in that order) -> class."""
