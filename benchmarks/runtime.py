"""Runtime benchmark: per-stage latency of one scan, ~35k and ~120k points.

    .venv/bin/python benchmarks/runtime.py [--backbone minkunet34 --width 1.0 --repeats 5]

Stages: voxelise, kernel maps (all scales), spconv eager forward, gather-GEMM torch forward,
onnxruntime forward (CPU provider, torch's thread count). Prints a markdown table (median ms) with
targets; results are checked (gather and onnxruntime equal spconv to 1e-4 relative). Weights are
random with randomised BatchNorm statistics (timings do not depend on values).
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch

from seal_ros.core.engines import OnnxRuntimeEngine
from seal_ros.core.kernel_maps import build_kernel_maps
from seal_ros.core.minkunet import BACKBONES
from seal_ros.core.sparse_net import GatherMinkUNet, network_inputs
from seal_ros.core.voxelize import VoxelGrid, voxelize
from seal_train.export import export_onnx


def scan(points: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """LiDAR-like scan: ground ring (density ~ 1/r), two building rows, boxes."""
    gen = torch.Generator().manual_seed(seed)
    n_g, n_w = points // 2, points // 4
    r = 3 + 47 * torch.rand(n_g, generator=gen)
    phi = 2 * math.pi * torch.rand(n_g, generator=gen)
    z = -1.7 + 0.05 * torch.randn(n_g, generator=gen)
    ground = torch.stack([r * phi.cos(), r * phi.sin(), z], 1)
    t = torch.rand(n_w, generator=gen)
    y = torch.where(torch.rand(n_w, generator=gen) < 0.5, 12.0, -9.0)
    wall = torch.stack([-40 + 80 * t, y, -1.7 + 6 * torch.rand(n_w, generator=gen)], 1)
    n_b = points - n_g - n_w
    centres = (torch.rand(12, 3, generator=gen) - 0.5) * torch.tensor([60.0, 16.0, 0.0])
    box = centres[torch.randint(0, 12, (n_b,), generator=gen)] + torch.rand(
        n_b, 3, generator=gen) * torch.tensor([4.0, 1.8, 1.5]) - torch.tensor([2.0, 0.9, 1.7])
    return torch.cat([ground, wall, box]), torch.rand(points, 1, generator=gen)


def timed(fn, repeats: int):
    out, samples = None, []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return out, statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="minkunet34")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--points", type=int, nargs="+", default=[35_000, 120_000])
    args = parser.parse_args()
    torch.manual_seed(0)
    model = BACKBONES[args.backbone](in_channels=1, out_channels=args.classes, width=args.width)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    net = GatherMinkUNet.from_spconv(model.state_dict())
    grid = VoxelGrid.cartesian(0.1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        xyz, feats = scan(120_000, seed=99)  # export example
        b = voxelize(xyz, feats, torch.tensor([0, len(xyz)]), grid)
        m = build_kernel_maps(b.coords, spatial_shape=b.spatial_shape)
        start = time.perf_counter()
        onnx_path = export_onnx(net, Path(tmp) / "net.onnx",
                                network_inputs(b.features, b.inverse, m), optimize=False)
        export_s = time.perf_counter() - start
        engine = OnnxRuntimeEngine(onnx_path, threads=torch.get_num_threads())
        for points in args.points:
            xyz, feats = scan(points, seed=points)
            offsets = torch.tensor([0, points])
            batch, t_vox = timed(lambda: voxelize(xyz, feats, offsets, grid), args.repeats)
            maps, t_maps = timed(lambda: build_kernel_maps(
                batch.coords, spatial_shape=batch.spatial_shape), args.repeats)
            ref, t_sp = timed(lambda: model(batch), args.repeats)
            inputs = network_inputs(batch.features, batch.inverse, maps)
            got, t_g = timed(lambda: net(*inputs), args.repeats)
            ort_out, t_ort = timed(lambda: engine.infer(batch.features, batch.inverse, maps),
                                   args.repeats)
            scale = ref.abs().max()
            err_g = float((got - ref).abs().max() / scale)
            err_o = float((ort_out - ref).abs().max() / scale)
            assert err_g <= 1e-4 and err_o <= 1e-4, (err_g, err_o)
            rows.append((points, batch.coords.shape[0], t_vox, t_maps, t_sp, t_g, t_ort,
                         max(err_g, err_o)))
    print(f"\n{args.backbone} width {args.width}, {torch.get_num_threads()} threads, "
          f"export {export_s:.0f} s; median of {args.repeats} runs, ms\n")
    print("| points | voxels | voxelise | kernel maps | voxelise+maps (target <= 80 @120k) | "
          "spconv eager | gather torch | onnxruntime (target <= spconv) | max rel err |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p, v, tv, tm, ts, tg, to, e in rows:
        print(f"| {p} | {v} | {tv:.1f} | {tm:.1f} | {tv + tm:.1f} | {ts:.1f} | {tg:.1f} | "
              f"{to:.1f} | {e:.1e} |")


if __name__ == "__main__":
    main()
