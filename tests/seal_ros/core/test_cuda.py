"""The runtime on a CUDA device: same code, same results as on the CPU (DESIGN.md decision 2).

Voxelisation and kernel maps built on the GPU equal the CPU ones bit for bit; the gather-GEMM
network and the spconv model on the GPU equal the CPU spconv model to 1e-4 relative (fp32, TF32
off); the engines run on the GPU; spconv's backward works there with the CPU fixes installed.
Skipped on machines without CUDA (CI has none).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from seal_ros.core.engines import GatherEngine, OnnxRuntimeEngine, TorchEngine
from seal_ros.core.kernel_maps import build_kernel_maps
from seal_ros.core.minkunet import build_minkunet18
from seal_ros.core.sparse_net import GatherMinkUNet, network_inputs
from seal_ros.core.voxelize import VoxelGrid, voxelize
from support.networks import randomise_bn, rel_err, scan_tensors, tiny_minkunet

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(autouse=True)
def no_tf32() -> Iterator[None]:
    """fp32 means fp32: TF32 matmuls would put the error near 1e-3."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _batch(points: int, seed: int, device: str):
    xyz, feats = scan_tensors(points, seed)
    offsets = torch.tensor([0, points])
    return voxelize(xyz.to(device), feats.to(device), offsets, VoxelGrid.cartesian(0.1))


@pytest.mark.parametrize("grid", ["cartesian", "cylindrical"])
def test_voxelize_and_maps_equal_cpu(grid: str) -> None:
    xyz, feats = scan_tensors(120_000, seed=7)
    offsets = torch.tensor([0, 60_000, 120_000])
    voxel_grid = VoxelGrid.cartesian(0.1) if grid == "cartesian" else VoxelGrid.cylindrical()
    cpu = voxelize(xyz, feats, offsets, voxel_grid)
    gpu = voxelize(xyz.cuda(), feats.cuda(), offsets, voxel_grid)
    assert gpu.coords.is_cuda and gpu.spatial_shape == cpu.spatial_shape
    assert torch.equal(gpu.coords.cpu(), cpu.coords)
    assert torch.equal(gpu.inverse.cpu(), cpu.inverse)
    assert torch.allclose(gpu.features.cpu(), cpu.features, rtol=1e-6, atol=1e-6)
    cpu_in = network_inputs(cpu.features, cpu.inverse,
                            build_kernel_maps(cpu.coords, spatial_shape=cpu.spatial_shape))
    maps = build_kernel_maps(gpu.coords, spatial_shape=gpu.spatial_shape)
    assert maps.coords[0].is_cuda
    gpu_in = network_inputs(gpu.features, gpu.inverse, maps)
    assert len(gpu_in) == len(cpu_in)
    for got, ref in zip(gpu_in[2:], cpu_in[2:], strict=True):  # every pair and rank list
        assert torch.equal(got.cpu(), ref)


@pytest.mark.parametrize("points", [35_000, 120_000])
def test_gather_and_spconv_on_gpu_equal_cpu_spconv(points: int) -> None:
    torch.manual_seed(0)
    model = randomise_bn(build_minkunet18(in_channels=1, out_channels=16, width=0.5))
    cpu = _batch(points, 3, "cpu")
    with torch.no_grad():
        ref = model(cpu)
        net = GatherMinkUNet.from_spconv(model.state_dict()).cuda()
        gpu = _batch(points, 3, "cuda")
        maps = build_kernel_maps(gpu.coords, spatial_shape=gpu.spatial_shape)
        got = net(*network_inputs(gpu.features, gpu.inverse, maps))
        spconv_gpu = model.cuda()(gpu)
    assert got.is_cuda and got.shape == ref.shape == (points, 16)
    assert rel_err(got.cpu(), ref) <= 1e-4
    assert rel_err(spconv_gpu.cpu(), ref) <= 1e-4


def test_engines_on_gpu(tmp_path: Path) -> None:
    from seal_train.export import export_onnx

    torch.manual_seed(0)
    model = tiny_minkunet()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": {f"backbone.{k}": v for k, v in model.state_dict().items()}}, path)
    gpu = _batch(20_000, 4, "cuda")
    maps = build_kernel_maps(gpu.coords, spatial_shape=gpu.spatial_shape)
    ref = GatherEngine(path).infer(gpu.features.cpu(), gpu.inverse.cpu(), maps.to("cpu"))
    torch_out = TorchEngine(path, device="cuda").infer(gpu.features, gpu.inverse, maps,
                                                       gpu.spatial_shape)
    gather_out = GatherEngine(path, device="cuda").infer(gpu.features, gpu.inverse, maps)
    onnx = export_onnx(GatherMinkUNet.from_spconv(model.state_dict()), tmp_path / "m.onnx")
    ort_out = OnnxRuntimeEngine(onnx).infer(gpu.features, gpu.inverse, maps)
    for out in (torch_out, gather_out, ort_out):
        assert out.shape == ref.shape
        assert rel_err(out.cpu(), ref) <= 1e-4


@pytest.mark.tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_engine_on_gpu(precision: str, tmp_path: Path) -> None:
    """The engine export builds runs on the GPU and agrees with onnxruntime on the CPU: labels
    equal (fp16: nearly all), logits within the precision's tolerance, at 35k and 120k points."""
    from seal_ros.core.engines import TensorRTEngine
    from seal_ros.core.sparse_net import tensorrt_profile
    from seal_train.export import export_onnx
    from seal_train.export.fp16 import write_fp16

    torch.manual_seed(0)
    model = build_minkunet18(in_channels=1, out_channels=17, width=0.25).eval()
    onnx_path = export_onnx(model.state_dict(), tmp_path / "model.onnx")
    write_fp16(onnx_path)
    profile = tensorrt_profile((1000, 35_000, 150_000), (1000, 30_000, 150_000))
    try:
        engine = TensorRTEngine(onnx_path, profile, precision=precision)
    except Exception as err:  # TensorRT for RTX may refuse a non-RTX GPU: say which and why
        pytest.fail(f"TensorRT engine on {torch.cuda.get_device_name(0)}: {err}")
    reference = OnnxRuntimeEngine(onnx_path)
    for points, seed in ((35_000, 1), (120_000, 2)):
        batch = _batch(points, seed, "cpu")
        maps = build_kernel_maps(batch.coords, spatial_shape=batch.spatial_shape)
        want = reference.infer(batch.features, batch.inverse, maps)
        got = engine.infer(batch.features, batch.inverse, maps).cpu()
        assert got.shape == want.shape == (points, 17)
        rel = float((got - want).abs().max() / want.abs().max())
        same = float((got.argmax(1) == want.argmax(1)).float().mean())
        if precision == "fp32":
            assert rel <= 1e-4 and same == 1.0, (points, rel, same)
        else:
            assert rel <= 1e-2 and same >= 0.99, (points, rel, same)


def test_spconv_backward_on_gpu() -> None:
    """The CPU fixes stay out of CUDA's way: gradients on the GPU equal the CPU ones."""
    torch.manual_seed(0)
    model = tiny_minkunet(out_channels=3).train()
    grads = {}
    for device in ("cpu", "cuda"):
        model.zero_grad()
        model.to(device)
        out = model(_batch(8_000, 5, device))
        (out ** 2).mean().backward()
        grads[device] = {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters()}
    assert grads["cuda"].keys() == grads["cpu"].keys()
    for name, ref in grads["cpu"].items():
        assert rel_err(grads["cuda"][name], ref) <= 1e-3, name
