"""TensorRT ahead-of-time build: parse and build time and engine size per network, exporter and
precision, with the TensorRT module that imports (TensorRT for RTX builds without a GPU).

    .venv/bin/python benchmarks/tensorrt_build.py [--backbones minkunet18 minkunet34]
        [--exporters torchscript dynamo] [--precisions fp32 fp16] [--width 1.0]
        [--points 1000,30000,150000] [--voxels 1000,30000,150000] [--out DIR]
        [--run --repeats 10]        # on a GPU: run each engine at ~35k and ~120k points

Each network (random weights, 17 classes) is exported with :func:`seal_train.export.export_onnx`,
its fp16 twin written with :func:`seal_train.export.fp16.write_fp16`, then built by the node's own
:class:`~seal_ros.core.engines.TensorRTEngine` (``build_only``) for the profile of
:func:`~seal_ros.core.sparse_net.tensorrt_profile`. The table goes to stdout; results belong in
``benchmarks/RESULTS.md``.

``--run`` (needs CUDA) also runs every engine on synthetic scans of ~35k and ~120k points and
reports the median inference time and its agreement with onnxruntime on the CPU (largest logit
difference relative to max |logit|, share of equal labels).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from seal_ros.core.engine_names import PRECISIONS
from seal_ros.core.engines import (
    OnnxRuntimeEngine,
    TensorRTEngine,
    fp16_onnx_path,
    import_tensorrt,
    parse_onnx,
)
from seal_ros.core.minkunet import BACKBONES
from seal_ros.core.sparse_net import GatherMinkUNet, tensorrt_profile
from seal_ros.core.synthetic_scan import lidar_like_scan
from seal_train.export import export_onnx
from seal_train.export.fp16 import write_fp16
from seal_train.export.onnx import EXPORTERS
from seal_train.export.package import scan_inputs

RUN_POINTS = (35_000, 120_000)


def _run(engine: TensorRTEngine, onnx_path: Path, stem_kernel: int, repeats: int
         ) -> list[tuple[int, float, float, float]]:
    """(points, median ms, max rel error vs onnxruntime, equal-label share) per scan size."""
    import statistics

    from seal_ros.core.voxelize import VoxelGrid

    reference = OnnxRuntimeEngine(onnx_path)
    out = []
    for points in RUN_POINTS:
        xyz, feats = (torch.from_numpy(a) for a in lidar_like_scan(points, seed=points))
        features, inverse, maps = scan_inputs(xyz, feats, VoxelGrid.cylindrical(), stem_kernel)
        want = reference.infer(features, inverse, maps)
        got = engine.infer(features, inverse, maps)  # warm-up (RTX specialises here)
        times = []
        for _ in range(repeats):
            torch.cuda.synchronize()
            start = time.perf_counter()
            got = engine.infer(features, inverse, maps)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - start) * 1e3)
        got = got.cpu()
        rel = float((got - want).abs().max() / want.abs().max())
        same = float((got.argmax(1) == want.argmax(1)).float().mean())
        out.append((points, statistics.median(times), rel, same))
    return out


def _sizes(text: str) -> tuple[int, int, int]:
    values = tuple(int(v) for v in text.split(","))
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: expected min,opt,max")
    return values  # type: ignore[return-value]


def _parse_seconds(trt, path: Path, typed: bool) -> float:
    start = time.perf_counter()
    parse_onnx(trt, path, strongly_typed=typed)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", choices=sorted(BACKBONES),
                        default=["minkunet18", "minkunet34"])
    parser.add_argument("--exporters", nargs="+", choices=EXPORTERS, default=list(EXPORTERS))
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["fp32", "fp16"])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--points", type=_sizes, default=(1000, 30000, 150000))
    parser.add_argument("--voxels", type=_sizes, default=(1000, 30000, 150000))
    parser.add_argument("--out", type=Path, help="keep the ONNX and engines here")
    parser.add_argument("--run", action="store_true", help="run the engines (needs CUDA)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    if args.run and not torch.cuda.is_available():
        parser.error("--run needs a CUDA device")

    trt = import_tensorrt()
    out = args.out or Path(tempfile.mkdtemp(prefix="seal-trt-"))
    rows, runs = [], []
    for backbone in args.backbones:
        torch.manual_seed(0)
        net = GatherMinkUNet.from_spconv(
            BACKBONES[backbone](in_channels=1, out_channels=17, width=args.width).state_dict())
        profile = tensorrt_profile(args.points, args.voxels, net.spec.stem_kernel)
        for exporter in args.exporters:
            folder = out / f"{backbone}-{exporter}"
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            onnx_path = export_onnx(net, folder / "model.onnx", overwrite=True, exporter=exporter)
            export_s = time.perf_counter() - start
            write_fp16(onnx_path)
            for precision in args.precisions:
                for stale in folder.glob("*.engine"):
                    if f".{precision}." in stale.name:
                        stale.unlink()
                source = onnx_path if precision == "fp32" else fp16_onnx_path(onnx_path)
                parse_s = _parse_seconds(trt, source, typed=precision == "fp16")
                engine = TensorRTEngine(onnx_path, profile, precision=precision,
                                        build_only=not args.run)
                if args.run:
                    runs += [(backbone, exporter, precision, *r) for r in
                             _run(engine, onnx_path, net.spec.stem_kernel, args.repeats)]
                rows.append((backbone, exporter, precision, export_s, parse_s,
                             engine.build_seconds, engine.engine_path.stat().st_size / 2**20))
                print(f"{backbone} {exporter} {precision}: built {engine.engine_path.name}",
                      flush=True)
    print(f"\n{trt.__name__} {trt.__version__}, width {args.width}, points {args.points}, voxels "
          f"{args.voxels}, {torch.get_num_threads()} CPU threads, CUDA "
          f"{torch.cuda.is_available()}")
    print("| network | exporter | precision | export s | parse s | build s | engine MB |")
    print("|---|---|---|---:|---:|---:|---:|")
    for backbone, exporter, precision, export_s, parse_s, build_s, mb in rows:
        print(f"| {backbone} | {exporter} | {precision} | {export_s:.0f} | {parse_s:.1f} | "
              f"{build_s:.0f} | {mb:.1f} |")
    if runs:
        print(f"\n{torch.cuda.get_device_name(0)}: median of {args.repeats} runs; agreement "
              f"with onnxruntime (CPU, fp32)")
        print("| network | exporter | precision | points | ms | max rel err | labels equal |")
        print("|---|---|---|---:|---:|---:|---:|")
        for backbone, exporter, precision, points, ms, rel, same in runs:
            print(f"| {backbone} | {exporter} | {precision} | {points} | {ms:.1f} | {rel:.1e} | "
                  f"{100 * same:.2f} % |")
    print(f"files in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
