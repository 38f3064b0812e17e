"""Engines: registry, errors on missing/corrupt models, torch and gather engines agree."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seal_ros.core.engines import ENGINES, Engine, EngineError, GatherEngine, TorchEngine
from seal_ros.core.kernel_maps import build_kernel_maps
from seal_ros.core.minkunet import build_minkunet
from seal_ros.core.voxelize import VoxelGrid, voxelize
from seal_ros.errors import SealError


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_minkunet(in_channels=1, out_channels=3, layers=(1,) * 8,
                          planes=(8, 8, 8, 8, 8, 8, 8, 8), init_dim=8).eval()


def test_registry() -> None:
    from seal_ros.core import engine_names

    assert tuple(ENGINES) == engine_names.ENGINES == ("torch", "gather", "onnxruntime", "tensorrt")
    assert all(issubclass(cls, Engine) for cls in ENGINES.values())
    assert issubclass(EngineError, SealError)


def test_torch_and_gather_engines_agree(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": {f"backbone.{k}": v for k, v in model.state_dict().items()}}, path)
    gen = torch.Generator().manual_seed(0)
    xyz = torch.rand(6000, 3, generator=gen) * torch.tensor([20.0, 20.0, 2.0])
    batch = voxelize(xyz, torch.rand(6000, 1, generator=gen), torch.tensor([0, 6000]),
                     VoxelGrid.cartesian(0.2))
    maps = build_kernel_maps(batch.coords, spatial_shape=batch.spatial_shape)
    ref = TorchEngine(path).infer(batch.features, batch.inverse, maps, batch.spatial_shape)
    got = GatherEngine(model.state_dict()).infer(batch.features, batch.inverse, maps)
    assert got.shape == (6000, 3)
    assert float((got - ref).abs().max() / ref.abs().max()) <= 1e-4


@pytest.mark.parametrize("name", ["onnxruntime", "tensorrt"])
def test_missing_or_corrupt_onnx(name: str, tmp_path: Path) -> None:
    kwargs = {"profile": {}, "build_only": True} if name == "tensorrt" else {}
    with pytest.raises(EngineError, match="no such ONNX file"):
        ENGINES[name](tmp_path / "missing.onnx", **kwargs)
    if name == "onnxruntime":
        bad = tmp_path / "bad.onnx"
        bad.write_bytes(b"not a protobuf")
        with pytest.raises(EngineError, match="cannot load"):
            ENGINES[name](bad)


def test_tensorrt_module_is_the_first_that_imports() -> None:
    """Classic ``tensorrt`` first (vehicles), then ``tensorrt_rtx``; none: an error naming both."""
    import importlib.util

    from seal_ros.core.engine_names import TENSORRT_MODULES
    from seal_ros.core.engines import import_tensorrt

    assert TENSORRT_MODULES == ("tensorrt", "tensorrt_rtx")
    available = [m for m in TENSORRT_MODULES if importlib.util.find_spec(m) is not None]
    assert available, "install.sh installs TensorRT for RTX"
    assert import_tensorrt().__name__ == available[0]
    assert import_tensorrt(("not_a_tensorrt", available[-1])).__name__ == available[-1]
    with pytest.raises(EngineError, match="no TensorRT Python module imports .*not_a_tensorrt"):
        import_tensorrt(("not_a_tensorrt",))


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="no such checkpoint"):
        GatherEngine(tmp_path / "none.pt")
