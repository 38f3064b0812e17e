"""Gather-GEMM MinkUNet against the spconv MinkUNet it is built from (eval mode, fp32).

Tolerance: max |gather - spconv| / max |spconv| <= 1e-4 (DESIGN.md decision 2). Both sum the
same products in float32 in different orders over ~30 layers; measured ~1e-6.
BatchNorm statistics are randomised so folding is really exercised.
"""

from __future__ import annotations

import math

import pytest
import torch

from seal_ros.core.fold import infer_spec, spconv_state_from_checkpoint
from seal_ros.core.kernel_maps import build_kernel_maps
from seal_ros.core.minkunet import build_minkunet, build_minkunet18
from seal_ros.core.sparse_net import (GatherMinkUNet, dynamic_dims, input_names, network_inputs,
                                     tensorrt_profile)
from seal_ros.core.voxelize import VoxelGrid, voxelize
from seal_ros.errors import SealError


def synthetic_scan(points: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3) xyz of a LiDAR-like scan (ground disk, walls, boxes) and (N, 1) intensity."""
    gen = torch.Generator().manual_seed(seed)
    n_ground, n_wall = points // 2, points // 4
    n_box = points - n_ground - n_wall
    r = 3 + 47 * torch.rand(n_ground, generator=gen)
    phi = 2 * math.pi * torch.rand(n_ground, generator=gen)
    z = -1.7 + 0.05 * torch.randn(n_ground, generator=gen)
    ground = torch.stack([r * phi.cos(), r * phi.sin(), z], 1)
    t = torch.rand(n_wall, generator=gen)
    side = torch.where(torch.rand(n_wall, generator=gen) < 0.5, 12.0, -9.0)
    wall = torch.stack([-40 + 80 * t, side, -1.7 + 6 * torch.rand(n_wall, generator=gen)], 1)
    centres = (torch.rand(12, 3, generator=gen) - 0.5) * torch.tensor([60.0, 16.0, 0.0])
    which = torch.randint(0, 12, (n_box,), generator=gen)
    face = torch.rand(n_box, 3, generator=gen) * torch.tensor([4.0, 1.8, 1.5])
    box = centres[which] + face - torch.tensor([2.0, 0.9, 1.7])
    xyz = torch.cat([ground, wall, box])
    return xyz, torch.rand(points, 1, generator=gen)


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                C = m.num_features
                m.running_mean.copy_(torch.rand(C, generator=gen) - 0.5)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(C, generator=gen))
                m.weight.copy_(0.5 + torch.rand(C, generator=gen))
                m.bias.copy_(0.4 * torch.rand(C, generator=gen) - 0.2)
    return model.eval()


def tiny_minkunet(out_channels: int | None = 5) -> torch.nn.Module:
    torch.manual_seed(0)
    return randomise_bn(build_minkunet(in_channels=1, out_channels=out_channels,
                                       layers=(1, 1, 1, 1, 1, 1, 1, 1),
                                       planes=(8, 16, 16, 24, 16, 16, 8, 8), init_dim=8))


def rel_err(got: torch.Tensor, ref: torch.Tensor) -> float:
    return float((got - ref).abs().max() / ref.abs().max())


def check_equal(model: torch.nn.Module, points: int, seed: int) -> float:
    xyz, feats = synthetic_scan(points, seed)
    batch = voxelize(xyz, feats, torch.tensor([0, points]), VoxelGrid.cartesian(0.1))
    maps = build_kernel_maps(batch.coords, spatial_shape=batch.spatial_shape)
    net = GatherMinkUNet.from_spconv(model.state_dict())
    with torch.no_grad():
        ref = model(batch)
        got = net(*network_inputs(batch.features, batch.inverse, maps))
    assert got.shape == ref.shape == (points, model.out_channels)
    return rel_err(got, ref)


def test_tiny_matches_spconv_35k() -> None:
    assert check_equal(tiny_minkunet(), 35_000, seed=1) <= 1e-4


def test_features_without_head() -> None:
    assert check_equal(tiny_minkunet(out_channels=None), 8_000, seed=2) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("points", [35_000, 120_000])
def test_minkunet18_matches_spconv(points: int) -> None:
    torch.manual_seed(0)
    model = randomise_bn(build_minkunet18(in_channels=1, out_channels=16, width=0.5))
    assert check_equal(model, points, seed=3) <= 1e-4


def test_spec_and_checkpoint_keys() -> None:
    model = tiny_minkunet()
    state = model.state_dict()
    spec = infer_spec(state)
    assert spec.layers == (1,) * 8 and spec.planes == (8, 16, 16, 24, 16, 16, 8, 8)
    assert (spec.in_channels, spec.out_channels, spec.init_dim, spec.stem_kernel) == (1, 5, 8, 3)
    no_head = {k: v for k, v in state.items() if not k.startswith("head.")}
    payload = {"model": {**{f"backbone.{k}": v for k, v in no_head.items()},
                         "point_head.weight": torch.zeros(64, 8), "teacher.x": torch.zeros(1)},
               "epoch": 3}
    parsed = spconv_state_from_checkpoint(payload)
    assert set(parsed) == set(no_head)  # point_head / teacher ignored
    payload["model"]["head.weight"] = state["head.weight"]
    payload["model"]["head.bias"] = state["head.bias"]
    assert torch.equal(spconv_state_from_checkpoint(payload)["head.weight"], state["head.weight"])
    assert set(spconv_state_from_checkpoint(state)) == set(state)
    with pytest.raises(SealError, match="no MinkUNet weights"):
        spconv_state_from_checkpoint({"model": {"foo": torch.zeros(1)}})
    assert len(input_names()) == 2 + 5 * (13 + 26) + 4 * (8 + 8 + 2)
    assert len(input_names(5)) == len(input_names()) + 62 + 124 + 1


def test_odd_grid_edge_voxels_are_computed() -> None:
    """Voxels in the last cell of an odd axis get real features (spconv used to drop them)."""
    model = tiny_minkunet(out_channels=None)
    gen = torch.Generator().manual_seed(5)
    xyz = torch.rand(3000, 3, generator=gen) * torch.tensor([3.3, 2.5, 1.7])  # 33 x 25 x 17
    batch = voxelize(xyz, torch.rand(3000, 1, generator=gen), torch.tensor([0, 3000]),
                     VoxelGrid.cartesian(0.1))
    assert all(s % 2 == 1 for s in batch.spatial_shape)
    maps = build_kernel_maps(batch.coords, spatial_shape=batch.spatial_shape)
    net = GatherMinkUNet.from_spconv(model.state_dict())
    with torch.no_grad():
        ref = model(batch)
        got = net(*network_inputs(batch.features, batch.inverse, maps))
    assert rel_err(got, ref) <= 1e-4
    edge = (batch.coords[:, 1:] == torch.tensor(batch.spatial_shape) - 1).any(1)
    assert edge.sum() > 20 and maps.counts["down1"] == batch.coords.shape[0]


def test_tensorrt_profile_covers_real_scans() -> None:
    profile = tensorrt_profile((1_000, 35_000, 150_000), (500, 30_000, 120_000))
    assert set(profile) == set(input_names())
    assert all(lo <= opt <= hi for lo, opt, hi in profile.values())
    assert profile["inverse"] == (1_000, 35_000, 150_000)
    assert profile["features"] == (500, 30_000, 120_000)
    assert profile["subm3_rank25"][0] == 0 and profile["down2_perm"][0] == 1
    xyz, feats = synthetic_scan(35_000, seed=6)
    batch = voxelize(xyz, feats, torch.tensor([0, 35_000]), VoxelGrid.cartesian(0.1))
    maps = build_kernel_maps(batch.coords)
    dims = dynamic_dims()
    sizes: dict[str, int] = {}
    for name, tensor in zip(input_names(), network_inputs(batch.features, batch.inverse, maps)):
        axis, size = dims[name]
        lo, _, hi = profile[name]
        assert lo <= tensor.shape[axis] <= hi, name
        assert sizes.setdefault(size, tensor.shape[axis]) == tensor.shape[axis], name
    with pytest.raises(ValueError, match="min <= opt <= max"):
        tensorrt_profile((10, 5, 20), (1, 2, 3))
