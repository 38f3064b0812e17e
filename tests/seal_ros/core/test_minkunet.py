"""MinkUNet on spconv: shapes, per-point gather, gradients, determinism, parameter counts (CPU)."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch

from seal_ros.core.minkunet import BACKBONES, MinkUNet, build_minkunet, build_minkunet34
from seal_ros.core.voxelize import SparseBatch, VoxelGrid, voxelize
from support.networks import scan_tensors

# Res16UNet34C as in MinkowskiEngine / SLidR (out_channels None, in_channels 1); 18 with layers 2x8
PARAMETERS = {"minkunet34": 37_842_976, "minkunet18": 21_691_168}


pytestmark = pytest.mark.usefixtures("two_threads")  # tests/seal_ros/core/conftest.py


def _scans(points: tuple[int, ...],
           seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Synthetic scans concatenated: xyz (N, 3), intensity (N, 1), offsets (B + 1,)."""
    scans = [scan_tensors(n, seed=seed * 100 + i) for i, n in enumerate(points)]
    offsets = torch.tensor([0, *torch.tensor(points).cumsum(0).tolist()])
    return torch.cat([x for x, _ in scans]), torch.cat([f for _, f in scans]), offsets


@pytest.fixture(scope="module")
def batch_5k() -> SparseBatch:
    xyz, intensity, offsets = _scans((2_400, 2_600))
    return voxelize(xyz, intensity, offsets, VoxelGrid.cylindrical())


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_output_shapes_and_parameter_counts(name: str, batch_5k: SparseBatch) -> None:
    net = BACKBONES[name](in_channels=1, out_channels=None).eval()
    count = sum(p.numel() for p in net.parameters())
    print(f"{name}: {count:,} parameters")
    assert count == PARAMETERS[name]
    with torch.no_grad():
        out = net(batch_5k)
    assert out.shape == (5_000, 96) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    head = BACKBONES[name](in_channels=1, out_channels=64).eval()
    with torch.no_grad():
        assert head(batch_5k).shape == (5_000, 64)


def test_per_point_features_are_voxel_features_gathered() -> None:
    xyz, intensity, offsets = _scans((2_400, 2_600))
    batch = voxelize(xyz, intensity, offsets, VoxelGrid.cartesian(1.0))  # coarse: shared voxels
    net = build_minkunet34(width=0.25).eval()
    with torch.no_grad():
        voxels = net.forward_voxels(batch)
        points = net(batch)
    assert voxels.shape == (batch.coords.shape[0], 24)  # 96 * 0.25
    assert batch.coords.shape[0] < batch.num_points  # some points share voxels
    assert torch.equal(points, voxels[batch.inverse])
    shared = batch.inverse.bincount().argmax()  # a voxel with several points
    rows = (batch.inverse == shared).nonzero().flatten()
    assert rows.numel() > 1 and (points[rows] == points[rows[0]]).all()


def test_gradients_reach_every_parameter(batch_5k: SparseBatch) -> None:
    net = build_minkunet34(out_channels=8, width=0.25).train()
    loss = net(batch_5k).square().mean()
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_forward_is_deterministic_with_two_threads(batch_5k: SparseBatch) -> None:
    torch.manual_seed(0)
    net = build_minkunet34(out_channels=8, width=0.25).eval()
    with torch.no_grad():
        first, second = net(batch_5k), net(batch_5k)
    assert torch.equal(first, second)


def test_convs_built_for_cuda_run_on_cpu(batch_5k: SparseBatch) -> None:
    """spconv's CUDA builds give every conv implicit GEMM, which refuses host tensors; a CPU
    forward must switch to the native algorithm (same weights) and give the same output."""
    from spconv.core import ConvAlgo

    torch.manual_seed(0)
    net = build_minkunet34(out_channels=8, width=0.25).eval()
    with torch.no_grad():
        ref = net(batch_5k)
    for conv in net._convs:  # what the CUDA build's constructor chooses
        conv.algo = ConvAlgo.MaskImplicitGemm
    net._default_algos = [ConvAlgo.MaskImplicitGemm] * len(net._convs)
    with torch.no_grad():
        got = net(batch_5k)
    assert torch.equal(got, ref)
    assert all(conv.algo == ConvAlgo.Native for conv in net._convs)


def test_scans_are_independent() -> None:
    """A scan's output does not depend on the other scans of the batch (eval-mode BN)."""
    torch.manual_seed(0)
    net = build_minkunet(in_channels=1, out_channels=4, layers=(1,) * 8, width=0.25).eval()
    xyz, intensity, offsets = _scans((700, 800), seed=1)
    grid = VoxelGrid.cartesian(0.5)
    both = net(voxelize(xyz, intensity, offsets, grid))
    first = net(voxelize(xyz[:700], intensity[:700], torch.tensor([0, 700]), grid))
    torch.testing.assert_close(both[:700], first, rtol=1e-5, atol=1e-5)


def test_builder_validates_arguments() -> None:
    with pytest.raises(ValueError, match="8 entries"):
        MinkUNet(1, None, layers=(2,) * 7, planes=(8,) * 8, init_dim=8, stem_kernel=3,
                 bn_momentum=0.05)
    with pytest.raises(ValueError, match="width"):
        build_minkunet(in_channels=1, out_channels=None, layers=(1,) * 8, width=0.0)
    net = build_minkunet34(width=0.5)
    assert net.out_channels == 48
    bn = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d))
    assert bn.momentum == 0.05


FORWARD_ONCE = """
import torch
from seal_ros.core.minkunet import build_minkunet
from seal_ros.core.voxelize import VoxelGrid, voxelize
net = build_minkunet(in_channels=1, out_channels=4, layers=(1,) * 8, width=0.25).eval()
xyz = torch.randn(500, 3) * 10
net(voxelize(xyz, torch.rand(500, 1), torch.tensor([0, 500]), VoxelGrid.cartesian(0.5)))
print("forward ok")
"""


def test_first_forward_logs_no_fx_tracing_notice() -> None:
    """spconv's SparseConvTensor makes torch.fx log a tracing notice once per process; the
    network's module filters exactly that notice and nothing else of torch's."""
    run = subprocess.run([sys.executable, "-c", FORWARD_ONCE], capture_output=True, text=True,
                         timeout=120, check=True)
    assert "forward ok" in run.stdout
    assert "is_fx_tracing" not in run.stderr, run.stderr
    logger = logging.getLogger("torch.fx._symbolic_trace")
    other = logger.makeRecord(logger.name, 30, __file__, 1, "another fx warning", None, None)
    assert logger.filter(other) and not logger.filter(
        logger.makeRecord(logger.name, 30, __file__, 1, "is_fx_tracing will return true", None,
                          None))
