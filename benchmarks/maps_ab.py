"""Kernel maps of the working tree against another revision, built in one interleaved run.

Usage::

    python benchmarks/maps_ab.py                       # working tree vs HEAD, 35k and 120k points
    python benchmarks/maps_ab.py --base HEAD~3 --rounds 60 --threads 2
    python benchmarks/maps_ab.py --base /path/to/other/checkout --device cuda

On a shared machine, run-to-run swings (up to 2x on the 2-core CI machine) swamp a 10% change, so
two separate runs of ``benchmarks/runtime.py`` cannot tell builds apart. Here both builds live in
one process and alternate (in a random order each round), so load hits both alike; the figure to
read is the paired ratio (working tree / base, round by round): its median and quartiles. The
base's ``seal_ros/core/voxel_keys.py`` and ``kernel_maps.py`` come from ``git show`` (or from a
folder given as ``--base``, for a copy of the tree without git) and are imported under private
names; voxelisation is the working tree's, so both build from the same coordinates (the scans
of ``benchmarks/runtime.py``). The table also says whether every map tensor of the two builds is
identical.

It also counts, for one build of each, the top-level torch operations and those that wait for the
device on CUDA (``nonzero``, ``.item()``, ``unique``), with the torch profiler (operations as
dispatched, on either device; a little higher on CUDA). On a GPU the maps are launch-bound: their
time follows these counts, not the points (README, CUDA table), so a change that wins on the CPU
by adding operations can lose there.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runtime import scan_tensors  # noqa: E402

from seal_ros.core import kernel_maps  # noqa: E402
from seal_ros.core.voxelize import VoxelGrid, voxelize  # noqa: E402

MODULES = ("seal_ros.core.voxel_keys", "seal_ros.core.kernel_maps")  # import order


def _base_source(rev: str, path: str) -> str | None:
    """``path`` as of git revision ``rev``, or from the folder ``rev``; None where it is missing."""
    if Path(rev).is_dir():
        file = Path(rev) / path
        return file.read_text() if file.is_file() else None
    done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, capture_output=True,
                          text=True)
    return done.stdout if done.returncode == 0 else None


def load_revision(rev: str) -> types.ModuleType:
    """``kernel_maps`` as of ``rev``, importing that revision's ``voxel_keys`` (when it has one)."""
    saved = {name: sys.modules.get(name) for name in MODULES}
    module = None
    try:
        for name in MODULES:
            path = name.replace(".", "/") + ".py"
            source = _base_source(rev, path)
            if source is None:
                if name == MODULES[-1]:
                    raise SystemExit(f"{rev}: no {path} (git show failed)")
                continue
            module = types.ModuleType(f"{name}@{rev}")
            module.__file__ = f"{rev}:{path}"
            sys.modules[module.__name__] = module  # dataclasses look their module up
            sys.modules[name] = module  # what the next module's imports see
            exec(compile(source, module.__file__, "exec"), module.__dict__)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    assert module is not None
    return module


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor of a KernelMaps, in field order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif dataclasses.is_dataclass(obj):
        for field in dataclasses.fields(obj):
            yield from tensors(getattr(obj, field.name))
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from tensors(item)


def identical(a: Any, b: Any) -> bool:
    ta, tb = list(tensors(a)), list(tensors(b))
    return len(ta) == len(tb) and all(x.shape == y.shape and x.dtype == y.dtype
                                      and torch.equal(x, y) for x, y in zip(ta, tb, strict=True))


SYNCS = {"aten::nonzero", "aten::_local_scalar_dense", "aten::_unique2", "aten::unique_dim",
         "aten::unique_consecutive"}  # each waits for the device on CUDA


def operation_counts(build: Any, *args: Any, **kwargs: Any) -> tuple[int, int]:
    """(top-level torch operations, device syncs on CUDA) of one call of ``build``."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        build(*args, **kwargs)
    events = [e for e in prof.events() if e.name.startswith("aten::")]
    top = [e for e in events if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")]
    return len(top), sum(e.name in SYNCS for e in events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="HEAD",
                        help="git revision, or a checkout folder, to compare against")
    parser.add_argument("--points", type=int, nargs="+", default=[35_000, 120_000])
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds per scan size")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--voxel", type=float, default=0.1, help="cartesian voxel size, m")
    parser.add_argument("--stem", type=int, default=3, help="stem kernel size")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device")
    torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    builds = {"base": load_revision(args.base).build_kernel_maps,
              "tree": kernel_maps.build_kernel_maps}
    rng = random.Random(0)
    rows = []
    for points in args.points:
        xyz, feats = scan_tensors(points, seed=points)
        batch = voxelize(xyz.to(args.device), feats.to(args.device), torch.tensor([0, points]),
                         VoxelGrid.cartesian(args.voxel))
        maps = {name: build(batch.coords, stem_kernel=args.stem,
                            spatial_shape=batch.spatial_shape) for name, build in builds.items()}
        same = identical(maps["base"], maps["tree"])
        counts = {name: operation_counts(build, batch.coords, stem_kernel=args.stem,
                                         spatial_shape=batch.spatial_shape)
                  for name, build in builds.items()}
        ms: dict[str, list[float]] = {name: [] for name in builds}
        for round_index in range(args.rounds + 2):  # two warm-up rounds
            order = list(builds)
            rng.shuffle(order)
            for name in order:
                sync()
                start = time.perf_counter()
                builds[name](batch.coords, stem_kernel=args.stem, spatial_shape=batch.spatial_shape)
                sync()
                if round_index >= 2:
                    ms[name].append((time.perf_counter() - start) * 1e3)
        ratio = [t / b for t, b in zip(ms["tree"], ms["base"], strict=True)]
        quart = statistics.quantiles(ratio, n=4)
        rows.append((points, int(batch.coords.shape[0]), statistics.median(ms["base"]),
                     statistics.median(ms["tree"]), quart, counts, same))
        print(f"{points} points done", file=sys.stderr)
    print(f"\nkernel maps, working tree vs {args.base}: {args.device}, {args.threads} threads, "
          f"{args.voxel} m voxels, stem {args.stem}; medians of {args.rounds} interleaved rounds\n")
    print("| points | voxels | base ms | tree ms | tree/base (paired, median) | quartiles "
          "| ops base / tree | CUDA syncs base / tree | maps identical |")
    print("|---|---|---|---|---|---|---|---|---|")
    for points, voxels, base, tree, quart, counts, same in rows:
        (ops_base, syncs_base), (ops_tree, syncs_tree) = counts["base"], counts["tree"]
        print(f"| {points} | {voxels} | {base:.1f} | {tree:.1f} | {quart[1]:.3f} | "
              f"{quart[0]:.3f}-{quart[2]:.3f} | {ops_base} / {ops_tree} | "
              f"{syncs_base} / {syncs_tree} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
