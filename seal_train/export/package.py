"""Write a model package: ONNX network (and its fp16 twin for TensorRT), weights for the torch /
gather engines and ``model.yaml``, checked against torch; optionally a TensorRT engine next to the
ONNX.

The ONNX graph has dynamic voxel, pair and point counts (the exporter traces its own dense example,
:func:`seal_train.export.onnx.export_example`). A synthetic scan in the checkpoint's own voxel grid
then runs through onnxruntime and through the torch gather-GEMM network; their largest difference
relative to the largest torch output is reported, and above ``tolerance`` the export fails.

Every file is written atomically, and ``model.yaml`` (what the node opens) last, after an
overwrite has removed the old one: a folder holds a loadable package only once all of it is in
place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from seal_ros.core.kernel_maps import KernelMaps, build_kernel_maps
from seal_ros.core.sparse_net import GatherMinkUNet, network_inputs
from seal_ros.core.synthetic_scan import lidar_like_scan
from seal_ros.core.voxel_grid import VoxelGrid
from seal_ros.core.voxelize import voxelize
from seal_ros.errors import ExportError, SealError
from seal_ros.model_package import InputSpec, ModelPackage, Profile
from seal_ros.torch_files import save_torch_file
from seal_train.export.fp16 import write_fp16
from seal_train.export.onnx import EXPORTERS, check_export_options, export_onnx
from seal_train.export.source import ExportSource

__all__ = ["ExportResult", "build_tensorrt_engine", "export_package", "scan_inputs"]

log = logging.getLogger(__name__)

ONNX_NAME = "model.onnx"
WEIGHTS_NAME = "model.pt"  # spconv state dict with head: the torch / gather engines run it
PACKAGE_NAME = "model.yaml"


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_package` produced."""

    onnx: Path
    onnx_fp16: Path  # the fp16 twin TensorRT builds for precision fp16
    package: Path
    weights: Path
    max_rel_error: float  # onnxruntime vs torch gather network on the check scan
    check_points: int  # points of the check scan
    seconds: float


def scan_inputs(xyz: torch.Tensor, features: torch.Tensor, grid: VoxelGrid, stem_kernel: int
                ) -> tuple[torch.Tensor, torch.Tensor, KernelMaps]:
    """Voxel features, point->voxel inverse and kernel maps of one scan (engine inputs)."""
    batch = voxelize(xyz, features, torch.tensor([0, len(xyz)]), grid)
    maps = build_kernel_maps(batch.coords, stem_kernel=stem_kernel,
                             spatial_shape=batch.spatial_shape)
    return batch.features, batch.inverse, maps


def _prepare_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise ExportError(f"{out_dir}: exists and is not empty; pass --overwrite to replace "
                              f"the package in it")
        # model.yaml first: until the new one is written, last, the folder holds no package, so
        # an export that fails or is killed midway never pairs the old YAML with new weights.
        (out_dir / PACKAGE_NAME).unlink(missing_ok=True)
        # Engines are cached next to the ONNX keyed by profile, not by content: drop stale ones.
        for stale in out_dir.glob(f"{Path(ONNX_NAME).stem}.*.engine"):
            stale.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def export_package(
    source: ExportSource,
    out_dir: str | Path,
    model_id: str,
    profile: Profile | None = None,
    feature_scale: Sequence[float] | None = None,
    overwrite: bool = False,
    optimize: bool = False,
    exporter: str = EXPORTERS[0],
    tolerance: float = 1e-3,
    seed: int = 0,
    check_points: int = 30_000,
) -> ExportResult:
    """Export ``source`` to ``out_dir/model.onnx``, ``model.pt`` and ``model.yaml``.

    Args:
        source: the network and its recipe (:func:`load_export_source`).
        out_dir: package folder (created; must be empty unless ``overwrite``).
        model_id: name shown by the node.
        profile: input profile (points and voxels min/opt/max); default :class:`Profile`.
        feature_scale: multiplier per point feature (default 1 each).
        overwrite: replace an existing package (stale cached engines are deleted).
        optimize: run the dynamo exporter's graph optimiser (slow for big nets).
        exporter: torch's ONNX exporter, one of :data:`~seal_train.export.onnx.EXPORTERS`.
        tolerance: largest accepted onnxruntime-vs-torch error relative to max |torch|.
        seed: seed of the synthetic check scan.
        check_points: points of the check scan.

    Raises:
        ExportError: bad arguments, existing output, export failure or onnxruntime disagreeing.
    """
    from seal_ros.core.engines import OnnxRuntimeEngine

    start = time.perf_counter()
    out_dir = Path(out_dir)
    scale = tuple(float(s) for s in (feature_scale or [1.0] * len(source.features)))
    try:
        spec = InputSpec(fields=("x", "y", "z", *(f for f in source.features
                                                  if f not in ("x", "y", "z"))),
                         features=source.features, feature_scale=scale)
    except SealError as err:
        raise ExportError(f"input spec: {err}") from err
    check_export_options(exporter, optimize)  # before the folder is touched
    _prepare_dir(out_dir, overwrite)
    stem_kernel = int(source.network["stem_kernel"])
    channels = len(source.features)
    net = GatherMinkUNet.from_spconv(source.state)
    onnx_path = out_dir / ONNX_NAME
    log.info("exporting %s (%d classes) to %s", source.network.get("backbone"),
             len(source.class_names), onnx_path)
    export_onnx(net, onnx_path, overwrite=True, optimize=optimize, exporter=exporter)
    fp16 = write_fp16(onnx_path)  # what TensorRT builds for precision fp16

    xyz, feats = (torch.from_numpy(a) for a in lidar_like_scan(check_points, seed, channels))
    features, inverse, maps = scan_inputs(xyz, feats, source.grid, stem_kernel)
    got = OnnxRuntimeEngine(onnx_path).infer(features, inverse, maps)
    with torch.no_grad():
        ref = net(*network_inputs(features, inverse, maps))
    rel = float((got - ref).abs().max() / ref.abs().max().clamp_min(1e-12))
    if not rel <= tolerance:  # NaN fails too
        onnx_path.unlink(missing_ok=True)
        fp16.unlink(missing_ok=True)
        raise ExportError(f"{onnx_path}: onnxruntime output differs from torch by {rel:.2e} "
                          f"(relative to max |logit|), above {tolerance:.0e}; file removed")

    from seal_ros.labels import palette_for

    weights = out_dir / WEIGHTS_NAME
    save_torch_file({k: v.detach().cpu().contiguous() for k, v in source.state.items()}, weights)
    package = ModelPackage(
        model_id=model_id,
        onnx=onnx_path.resolve(),
        class_names=source.class_names,
        palette=tuple((int(r), int(g), int(b)) for r, g, b in palette_for(source.class_names)),
        ignore_id=0,
        grid=source.grid,
        input=spec,
        profile=profile or Profile(),
        network={**source.network, **({"random_head": True} if source.random_head else {})},
        checkpoint=weights.resolve(),
    )
    yaml_path = package.save(out_dir / PACKAGE_NAME)
    ModelPackage.load(yaml_path)  # what the node will read must read back
    return ExportResult(onnx=onnx_path, onnx_fp16=fp16, package=yaml_path, weights=weights,
                        max_rel_error=rel, check_points=check_points,
                        seconds=time.perf_counter() - start)


def build_tensorrt_engine(package_path: str | Path, precision: str = "fp16") -> Path:
    """Build (or find) the TensorRT engine of a package ahead of time, cached next to its ONNX
    under the key the node looks for (with TensorRT for RTX no GPU is needed).

    Raises:
        ExportError: no TensorRT module (or classic TensorRT without a GPU: the message says the
            ONNX and package are written and usable with onnxruntime), or the build fails.
    """
    from seal_ros.core.engines import TensorRTEngine
    from seal_ros.node.model import tensorrt_profile  # the node builds with the same profile

    package = ModelPackage.load(package_path)
    try:
        engine = TensorRTEngine(package.onnx, tensorrt_profile(package), precision=precision,
                                build_only=True)
    except SealError as err:
        raise ExportError(f"TensorRT engine not built ({err}); {package.onnx} and "
                          f"{package.path} are written and run with engine:=onnxruntime, or "
                          f"build the engine on the vehicle with build_only:=true") from err
    return engine.engine_path
