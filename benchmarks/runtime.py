"""Runtime benchmark: per-stage latency of one scan, ~35k and ~120k points.

    .venv/bin/python benchmarks/runtime.py [--backbone minkunet34 --width 1.0 --repeats 5]
                                           [--device cuda] [--threads 2]

Stages: decode (PointCloud2 bytes -> numpy xyz + intensity, ``seal_ros.core.codec``), voxelise,
kernel maps (all scales), spconv eager forward, gather-GEMM torch forward, onnxruntime end to end
(feed built from the maps, CPU provider, or CUDA with ``--device cuda`` when onnxruntime has it).
Stages run interleaved, one of each per round, so load on a shared machine hits all alike; the
table shows the median over rounds (ms) with the targets. Results are checked, not only timed:
gather and onnxruntime must equal spconv to 1e-4 relative. Weights are random with randomised
BatchNorm statistics (timings do not depend on values).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seal_ros.core.codec import decode, encode, read_points
from seal_ros.core.engines import OnnxRuntimeEngine
from seal_ros.core.kernel_maps import build_kernel_maps
from seal_ros.core.minkunet import BACKBONES
from seal_ros.core.sparse_net import GatherMinkUNet, network_inputs
from seal_ros.core.voxelize import VoxelGrid, voxelize
from seal_train.export import export_onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.networks import randomise_bn, scan_tensors  # noqa: E402  (tests/support)

STAGES = ("decode", "voxelise", "maps", "spconv", "gather", "onnxruntime")


def scan_stages(cloud: Any, points: int, grid: VoxelGrid, device: str, model: torch.nn.Module,
                net: torch.nn.Module, engine: Any) -> tuple[dict[str, Callable[[], Any]], Any]:
    """One callable per stage for this scan (each redoes its stage from the previous one's
    output), and the scan's voxel batch."""
    offsets = torch.tensor([0, points])

    def decoded() -> tuple[torch.Tensor, torch.Tensor]:
        cols = read_points(decode(cloud), ("x", "y", "z", "intensity"), np.float32)
        t = torch.from_numpy(cols).to(device)
        return t[:, :3], t[:, 3:]

    pts, intensity = decoded()
    batch = voxelize(pts, intensity, offsets, grid)
    maps = build_kernel_maps(batch.coords, spatial_shape=batch.spatial_shape)
    stages: dict[str, Callable[[], Any]] = {
        "decode": decoded,
        "voxelise": lambda: voxelize(pts, intensity, offsets, grid),
        "maps": lambda: build_kernel_maps(batch.coords, spatial_shape=batch.spatial_shape),
        "spconv": lambda: model(batch),
        "gather": lambda: net(*network_inputs(batch.features, batch.inverse, maps)),
    }
    if engine is not None:
        stages["onnxruntime"] = lambda: engine.infer(batch.features, batch.inverse, maps)
    return stages, batch


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def interleaved(stages: dict[str, Callable[[], Any]], rounds: int, device: str
                ) -> tuple[dict[str, Any], dict[str, float]]:
    """Run every stage once per round (after one warm-up round); last outputs, median ms."""
    samples: dict[str, list[float]] = {name: [] for name in stages}
    outputs: dict[str, Any] = {}
    for round_index in range(rounds + 1):
        for name, fn in stages.items():
            _sync(device)
            start = time.perf_counter()
            outputs[name] = fn()
            _sync(device)
            if round_index:
                samples[name].append((time.perf_counter() - start) * 1e3)
    return outputs, {name: statistics.median(v) for name, v in samples.items()}


def onnxruntime_has(device: str) -> bool:
    """Whether onnxruntime can run on ``device`` (the CUDA provider is a separate build)."""
    import onnxruntime as ort

    return device == "cpu" or "CUDAExecutionProvider" in ort.get_available_providers()


def onnxruntime_engine(onnx_path: Path, device: str, threads: int) -> OnnxRuntimeEngine:
    """The engine on ``device`` (CPU provider only when ``device`` is cpu)."""
    engine = OnnxRuntimeEngine(onnx_path, threads=threads)
    if device == "cpu":
        engine.session.set_providers(["CPUExecutionProvider"])
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="minkunet34")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds per scan size")
    parser.add_argument("--points", type=int, nargs="+", default=[35_000, 120_000])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch and onnxruntime intra-op threads")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device")
    torch.set_num_threads(args.threads)
    device = args.device
    torch.manual_seed(0)
    model = randomise_bn(BACKBONES[args.backbone](in_channels=1, out_channels=args.classes,
                                                  width=args.width))
    net = GatherMinkUNet.from_spconv(model.state_dict())
    model.to(device)
    net.to(device)
    grid = VoxelGrid.cartesian(0.1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        engine, export_s = None, 0.0
        if onnxruntime_has(device):  # else the export (a minute for MinkUNet34) is wasted
            start = time.perf_counter()
            onnx_path = export_onnx(net.cpu(), Path(tmp) / "net.onnx")
            export_s = time.perf_counter() - start
            net.to(device)
            engine = onnxruntime_engine(onnx_path, device, args.threads)
        for points in args.points:
            xyz, feats = scan_tensors(points, seed=points)
            cloud = encode({"x": xyz[:, 0].numpy(), "y": xyz[:, 1].numpy(),
                            "z": xyz[:, 2].numpy(), "intensity": feats[:, 0].numpy()})
            stages, batch = scan_stages(cloud, points, grid, device, model, net, engine)
            out, ms = interleaved(stages, args.repeats, device)
            ref = out["spconv"]
            scale = ref.abs().max()
            errors = [float((out[k].to(ref.device) - ref).abs().max() / scale)
                      for k in ("gather", "onnxruntime") if k in out]
            assert max(errors) <= 1e-4, errors
            rows.append((points, batch.coords.shape[0], ms, max(errors)))
            print(f"{points} points: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()),
                  file=sys.stderr, flush=True)
    export = f"export {export_s:.0f} s" if engine is not None else "no onnxruntime provider"
    print(f"\n{args.backbone} width {args.width}, {device}, {args.threads} threads, {export}; "
          f"median of {args.repeats} interleaved rounds, ms\n")
    print("| points | voxels | decode | voxelise | kernel maps | decode+voxelise+maps "
          "(target <= 80 @120k) | spconv eager | gather torch | onnxruntime (target <= spconv) "
          "| max rel err |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for points, voxels, ms, err in rows:
        front = ms["decode"] + ms["voxelise"] + ms["maps"]
        ort_ms = f"{ms['onnxruntime']:.1f}" if "onnxruntime" in ms else "n/a (no CUDA provider)"
        print(f"| {points} | {voxels} | {ms['decode']:.1f} | {ms['voxelise']:.1f} | "
              f"{ms['maps']:.1f} | {front:.1f} | {ms['spconv']:.1f} | {ms['gather']:.1f} | "
              f"{ort_ms} | {err:.1e} |")


if __name__ == "__main__":
    main()
