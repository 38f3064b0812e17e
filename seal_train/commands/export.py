"""``export``: a trained network as a model package for the vehicle (ONNX + model.yaml [+ engine]).

The package folder holds ``model.onnx`` (gather-GEMM MinkUNet, dynamic voxel/pair/point counts),
``model.fp16.onnx`` (its fp16 twin, what TensorRT builds for fp16), ``model.pt`` (the same weights
for the torch / gather engines) and ``model.yaml`` (class names, palette, voxel grid and point
features from the checkpoint's config, input profile, network facts). ``--format tensorrt`` also
builds the TensorRT engine of each ``--precision`` ahead of time, next to the ONNX under the name
the node looks for. TensorRT for RTX (``pip install tensorrt-rtx-cu12``) builds without a GPU;
classic TensorRT builds on the GPU that will run it. Without either the ONNX and package are
still written and the command fails with that reason.

The classes come from a probe head (``--head``), from a head stored in the checkpoint
(``finetune``'s ``best.pt``), or, for testing the deployment chain only, from ``--classes`` with a
random-weight head.

Examples:
    python -m seal_train export --checkpoint runs/pretrain/last.pt --head runs/probe/probe.pt \\
        --format onnx --out models/seal-nus
    python -m seal_train export --checkpoint runs/finetune/best.pt --out models/seal-ft
    python -m seal_train export --checkpoint runs/pretrain/last.pt --classes nuscenes \\
        --format tensorrt --precision fp16 fp32 --points 1000,35000,150000 --out models/chain-test
    ros2 launch seal_ros segment.launch.py model_path:=models/seal-nus
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from seal_ros.core.engine_names import PRECISIONS
from seal_ros.core.voxel_grid import GridKind, VoxelGrid
from seal_ros.errors import ConfigError, SealError
from seal_ros.model_package import Profile
from seal_train.export.onnx import EXPORTERS

log = logging.getLogger(__name__)

FORMATS = ("onnx", "tensorrt")


def _triple(text: str) -> tuple[int, int, int]:
    try:
        low, opt, high = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected min,opt,max integers") from None
    return low, opt, high


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers") from None


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    defaults = Profile()
    parser = sub.add_parser(name, help="export a network as a model package (ONNX/TensorRT)",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="pretraining / fine-tuning checkpoint or MinkUNet state dict (.pt)")
    parser.add_argument("--head", type=Path, default=None,
                        help="probe head file (probe.pt); its class_names become the classes")
    parser.add_argument("--classes", default=None, metavar="LABEL_MAP",
                        help="nuscenes | semantic-kitti | label-map YAML: names the classes of a "
                             "head stored in the checkpoint, or attaches a RANDOM-weight head "
                             "(deployment-chain tests only) when there is no head")
    parser.add_argument("--format", choices=FORMATS, default="onnx",
                        help="onnx: model.onnx + model.yaml; tensorrt: also the engine")
    parser.add_argument("--out", type=Path, required=True, help="package folder to write")
    parser.add_argument("--model-id", default=None,
                        help="name shown on SegmentationInfo (default: seal-<backbone>-<out>)")
    parser.add_argument("--points", type=_triple, default=defaults.points, metavar="MIN,OPT,MAX",
                        help="input profile: points per scan (default %(default)s)")
    parser.add_argument("--voxels", type=_triple, default=defaults.voxels, metavar="MIN,OPT,MAX",
                        help="input profile: voxels per scan (default %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, nargs="+", default=["fp16"],
                        help="TensorRT precision(s) to build (--format tensorrt)")
    parser.add_argument("--grid", choices=[k.value for k in GridKind], default=None,
                        help="voxel grid (state dicts without a config; else overrides it)")
    parser.add_argument("--voxel-size", type=float, default=0.1,
                        help="cartesian grid cell size in metres (with --grid cartesian)")
    parser.add_argument("--features", default=None,
                        help="comma-separated point features fed to the network (state dicts "
                             "without a config; else overrides it), e.g. intensity")
    parser.add_argument("--feature-scale", type=_floats, default=None,
                        help="multiplier per feature applied by the node, e.g. 255 when the "
                             "vehicle's intensities are 0..1 but training saw 0..255")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest onnxruntime-vs-torch error relative to max |logit|")
    parser.add_argument("--optimize", action="store_true",
                        help="with --exporter dynamo: run its graph optimiser (minutes on big "
                             "nets; onnxruntime and TensorRT optimise the graph when they load "
                             "it)")
    parser.add_argument("--exporter", choices=EXPORTERS, default=EXPORTERS[0],
                        help="torch's ONNX exporter: torchscript (default, 3-4x faster) or dynamo "
                             "(torch's default since 2.9; same network, same onnxruntime speed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic check scan "
                        "and of a random head")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing package")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seal_train.export.package import build_tensorrt_engine, export_package
    from seal_train.export.source import load_export_source

    grid = None if args.grid is None else VoxelGrid.from_name(args.grid, args.voxel_size)
    features = None if args.features is None else tuple(
        f.strip() for f in args.features.split(",") if f.strip())
    try:
        profile = Profile(points=args.points, voxels=args.voxels)
    except SealError as err:
        raise ConfigError(f"--points/--voxels: {err}") from err
    source = load_export_source(args.checkpoint, head=args.head, classes=args.classes,
                                grid=grid, features=features, seed=args.seed)
    if args.feature_scale is not None and len(args.feature_scale) != len(source.features):
        raise ConfigError(f"--feature-scale has {len(args.feature_scale)} values for the "
                          f"features {list(source.features)}")
    model_id = args.model_id or f"seal-{source.network['backbone']}-{args.out.name}"
    result = export_package(source, args.out, model_id, profile=profile,
                            feature_scale=args.feature_scale, overwrite=args.overwrite,
                            optimize=args.optimize, exporter=args.exporter,
                            tolerance=args.tolerance, seed=args.seed)
    print(f"exported {model_id}: {source.network['backbone']}, {len(source.class_names)} "
          f"classes, features {list(source.features)}, grid {source.grid.kind.value} "
          f"{list(source.grid.cell_size)}")
    print(f"  onnxruntime vs torch: max rel error {result.max_rel_error:.2e} on a "
          f"{result.check_points}-point scan")
    print(f"  profile points {list(profile.points)} voxels {list(profile.voxels)}; "
          f"{result.seconds:.0f} s")
    if source.random_head:
        print("  WARNING: random-weight head; labels are meaningless (chain test only)")
    print(f"  wrote  {result.onnx} ({result.onnx.stat().st_size / 2**20:.1f} MiB)")
    print(f"  wrote  {result.onnx_fp16} ({result.onnx_fp16.stat().st_size / 2**20:.1f} MiB, "
          f"the fp16 graph TensorRT builds)")
    print(f"  wrote  {result.weights} (torch / gather engines)")
    print(f"  wrote  {result.package}")
    if args.format == "tensorrt":
        for precision in args.precision:
            engine = build_tensorrt_engine(result.package, precision)
            print(f"  wrote  {engine} ({precision}, {engine.stat().st_size / 2**20:.1f} MiB)")
    print(f"next: ros2 launch seal_ros segment.launch.py model_path:={result.package.parent}")
    return 0
