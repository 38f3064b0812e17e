"""Gather-GEMM MinkUNet against the spconv MinkUNet it is built from (eval mode, fp32).

Tolerance: max |gather - spconv| / max |spconv| <= 1e-4 (DESIGN.md decision 2). Both sum the
same products in float32 in different orders over ~30 layers; measured ~1e-6.
BatchNorm statistics are randomised so folding is really exercised.
"""

from __future__ import annotations

import pytest
import torch

from seal_ros.core.fold import infer_spec, spconv_state_from_checkpoint
from seal_ros.core.kernel_maps import build_kernel_maps
from seal_ros.core.minkunet import build_minkunet18
from seal_ros.core.sparse_net import (
    GatherMinkUNet,
    dynamic_dims,
    input_names,
    network_inputs,
    tensorrt_profile,
)
from seal_ros.core.voxelize import VoxelGrid, voxelize
from seal_ros.errors import SealError
from support.networks import randomise_bn, rel_err, scan_tensors, tiny_minkunet


def check_equal(model: torch.nn.Module, points: int, seed: int) -> float:
    xyz, feats = scan_tensors(points, seed)
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
    xyz, feats = scan_tensors(35_000, seed=6)
    batch = voxelize(xyz, feats, torch.tensor([0, 35_000]), VoxelGrid.cartesian(0.1))
    maps = build_kernel_maps(batch.coords)
    dims = dynamic_dims()
    sizes: dict[str, int] = {}
    inputs = network_inputs(batch.features, batch.inverse, maps)
    for name, tensor in zip(input_names(), inputs, strict=True):
        axis, size = dims[name]
        lo, _, hi = profile[name]
        assert lo <= tensor.shape[axis] <= hi, name
        assert sizes.setdefault(size, tensor.shape[axis]) == tensor.shape[axis], name
    with pytest.raises(ValueError, match="min <= opt <= max"):
        tensorrt_profile((10, 5, 20), (1, 2, 3))
