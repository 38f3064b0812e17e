"""TensorRT for real, on a machine without a GPU: TensorRT's own ONNX parser takes the exported
MinkUNet18 and MinkUNet34 graphs (fp32 and their fp16 twins), and ``seal_train export --format
tensorrt`` builds serialized engines ahead of time for the package's input profile, fp32 and
fp16, under the cache key the node looks for. Running an engine needs a GPU (``test_cuda.py``).

TensorRT is the ``[tensorrt]`` extra of install.sh (TensorRT for RTX from PyPI; classic
``tensorrt`` is used instead where it is installed). The networks are random-weight and narrow
(width 1/8): the graph, hence parsing and building, is the full network's; the tiny test net's
both exporters are parsed in ``test_onnx.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
import torch

from seal_ros.core import engine_names
from seal_ros.core.engines import (
    EngineError,
    TensorRTEngine,
    engine_target,
    import_tensorrt,
    parse_onnx,
)
from seal_ros.core.minkunet import BACKBONES
from seal_ros.errors import ExportError
from seal_ros.model_package import ModelPackage
from seal_ros.node.model import load_engine, tensorrt_profile
from seal_ros.node.params import NodeParams
from seal_train.__main__ import main
from seal_train.export import export_onnx
from seal_train.export.fp16 import fp16_path, write_fp16
from seal_train.export.package import build_tensorrt_engine

trt = import_tensorrt()


def _parse(path: Path, typed: bool) -> None:
    """TensorRT's ONNX parser takes ``path`` (it raises otherwise) with the network's interface."""
    _, network, _ = parse_onnx(trt, path, strongly_typed=typed)
    names = {network.get_input(i).name for i in range(network.num_inputs)}
    assert {"features", "inverse"} <= names and network.num_outputs == 1
    assert network.get_output(0).dtype == trt.float32  # fp16 twin too: fp32 logits out


@pytest.mark.parametrize("backbone", ["minkunet18", "minkunet34"])
def test_tensorrt_parses_the_exported_network(backbone: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BACKBONES[backbone](in_channels=1, out_channels=17, width=0.125).eval()
    path = export_onnx(model.state_dict(), tmp_path / "model.onnx")
    fp16 = write_fp16(path)
    assert fp16 == fp16_path(path) == tmp_path / "model.fp16.onnx"
    _parse(path, typed=False)
    _parse(fp16, typed=True)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``seal_train export --format tensorrt --precision fp16 fp32`` of a random MinkUNet18: the
    package folder and what the command printed."""
    root = tmp_path_factory.mktemp("trt")
    torch.manual_seed(0)
    raw = root / "minkunet18.pt"
    torch.save(BACKBONES["minkunet18"](in_channels=1, out_channels=17, width=0.125).state_dict(),
               raw)
    out = root / "pkg"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export", "--checkpoint", str(raw), "--grid", "cylindrical", "--features",
                     "intensity", "--classes", "nuscenes", "--format", "tensorrt", "--precision",
                     "fp16", "fp32", "--points", "1000,30000,150000", "--voxels",
                     "1000,30000,150000", "--out", str(out)])
    assert code == 0, printed.getvalue()
    return out, printed.getvalue()


def _documented_key(package: ModelPackage, precision: str) -> str:
    """The cache name engines.py documents, written out from its parts."""
    profile = tensorrt_profile(package)
    digest = hashlib.sha1(json.dumps(sorted(profile.items())).encode()).hexdigest()[:10]
    target = "rtx-jit" if trt.__name__ == "tensorrt_rtx" else engine_target(trt)
    return f"model.{precision}.{trt.__name__}{trt.__version__}.{target}.{digest}.engine"


@pytest.mark.slow
def test_export_builds_engines_ahead_of_time(package) -> None:
    out, printed = package
    pkg = ModelPackage.load(out)
    assert (out / "model.fp16.onnx").is_file()
    for precision in ("fp16", "fp32"):
        engine = out / _documented_key(pkg, precision)
        assert engine.is_file() and engine.stat().st_size > 1_000_000
        size = re.search(rf"wrote  {re.escape(str(engine))} \({precision}, ([\d.]+) MiB\)",
                         printed)
        assert size, printed
        assert abs(float(size.group(1)) - engine.stat().st_size / 2**20) < 0.1
    assert f"wrote  {out / 'model.fp16.onnx'}" in printed


@pytest.mark.slow
def test_the_node_finds_the_engine_export_built(package) -> None:
    """build_only:=true on the vehicle (here: the same machine) finds the cached plan."""
    out, _ = package
    pkg = ModelPackage.load(out)
    for precision in ("fp16", "fp32"):
        engine = load_engine(pkg, NodeParams(engine="tensorrt", precision=precision,
                                             build_only=True))
        assert engine.build_seconds == 0.0  # loaded, not rebuilt
        assert engine.engine_path == out / _documented_key(pkg, precision)


@pytest.mark.slow
def test_running_an_engine_needs_a_gpu(package) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: test_cuda.py runs the engine")
    out, _ = package
    pkg = ModelPackage.load(out)
    with pytest.raises(EngineError, match="running an engine needs a CUDA device"):
        TensorRTEngine(pkg.onnx, tensorrt_profile(pkg), precision="fp32")


@pytest.mark.slow
def test_without_tensorrt_the_package_stays(package, monkeypatch: pytest.MonkeyPatch) -> None:
    out, _ = package
    monkeypatch.setattr(engine_names, "TENSORRT_MODULES", ("no_such_tensorrt",))
    with pytest.raises(ExportError, match="no TensorRT Python module imports") as info:
        build_tensorrt_engine(out, "fp16")
    assert "no_such_tensorrt" in str(info.value) and "onnxruntime" in str(info.value)
    ModelPackage.load(out)  # still there and valid


def test_fp16_needs_the_fp16_graph(tmp_path: Path) -> None:
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"")
    with pytest.raises(EngineError, match="model.fp16.onnx: no such ONNX file"):
        TensorRTEngine(onnx, {}, precision="fp16", build_only=True)
    with pytest.raises(EngineError, match="precision must be one of"):
        TensorRTEngine(onnx, {}, precision="int8", build_only=True)
