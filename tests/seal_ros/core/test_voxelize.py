"""Voxelisation against a brute-force Python dict on tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch

from seal_ros.core.voxelize import GridKind, SparseBatch, VoxelGrid, point_cells, voxelize
from seal_ros.errors import ConfigError

GRIDS = {
    "cartesian": VoxelGrid.cartesian(0.5),
    "cylindrical": VoxelGrid.cylindrical(rho_m=0.5, phi_deg=20.0, z_m=0.5),
}


def _tiny_scans() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two scans (7 + 6 points) with repeated cells and a duplicate across scans."""
    gen = torch.Generator().manual_seed(3)
    xyz = torch.randint(-4, 4, (13, 3), generator=gen).float() * 0.3 + 0.01
    xyz[5] = xyz[2] + 0.01  # same cell as point 2 in scan 0
    xyz[9] = xyz[2]  # same place as point 2 but in scan 1: a different voxel
    features = torch.randn(13, 2, generator=gen)
    offsets = torch.tensor([0, 7, 13])
    return xyz, features, offsets


def _brute_force_cell(p: list[float], grid: VoxelGrid) -> tuple[int, int, int]:
    x, y, z = p
    if grid.kind is GridKind.CYLINDRICAL:
        x, y = math.hypot(x, y), math.degrees(math.atan2(y, x))
    return tuple(math.floor(v / s) for v, s in zip((x, y, z), grid.cell_size, strict=True))  # type: ignore


@pytest.mark.parametrize("grid_name", sorted(GRIDS))
@pytest.mark.parametrize("reduce", ["first", "mean"])
def test_inverse_map_and_features_match_brute_force(grid_name: str, reduce: str) -> None:
    grid = GRIDS[grid_name]
    xyz, features, offsets = _tiny_scans()
    batch = voxelize(xyz, features, offsets, grid, reduce=reduce)

    voxels: dict[tuple[int, ...], list[int]] = {}  # (scan, cell) -> point indices, in order
    for n, p in enumerate(xyz.tolist()):
        scan = 0 if n < 7 else 1
        voxels.setdefault((scan, *_brute_force_cell(p, grid)), []).append(n)
    assert batch.coords.shape == (len(voxels), 4)
    assert batch.coords.dtype == torch.int32 and batch.coords.is_contiguous()
    assert (batch.coords >= 0).all()
    assert all(int(batch.coords[:, 1 + a].max()) < batch.spatial_shape[a] for a in range(3))
    # the inverse puts exactly the brute-force groups together, each in its own scan
    groups = {}
    for n, v in enumerate(batch.inverse.tolist()):
        groups.setdefault(v, []).append(n)
    assert sorted(groups.values()) == sorted(voxels.values())
    for v, members in groups.items():
        assert batch.coords[v, 0].item() == (0 if members[0] < 7 else 1)
        expected = features[members[0]] if reduce == "first" else features[members].mean(0)
        torch.testing.assert_close(batch.features[v], expected)
    # cells differ by the brute-force cell differences (the grid is only shifted)
    cells = point_cells(xyz, grid)
    shift = cells - batch.coords[batch.inverse, 1:].long()
    assert (shift == shift[0]).all()
    assert point_cells(xyz[2:3], grid).tolist()[0] == list(_brute_force_cell(xyz[2].tolist(), grid))


def test_points_2_5_share_a_voxel_and_9_does_not() -> None:
    xyz, features, offsets = _tiny_scans()
    batch = voxelize(xyz, features, offsets, GRIDS["cartesian"])
    assert batch.inverse[2] == batch.inverse[5] != batch.inverse[9]
    assert batch.batch_size == 2 and batch.num_points == 13


def test_cylindrical_default_is_slidr_grid() -> None:
    grid = VoxelGrid.cylindrical()
    assert grid.cell_size == (0.1, 1.0, 0.1)
    # a point at 10 m, 45 deg, 1.05 m -> rho cell 100, phi cell 45, z cell 10
    p = torch.tensor([[10 * math.cos(math.radians(45.5)), 10 * math.sin(math.radians(45.5)), 1.05]])
    assert point_cells(p, grid).tolist() == [[100, 45, 10]]


def test_to_device_and_validation() -> None:
    xyz, features, offsets = _tiny_scans()
    batch = voxelize(xyz, features, offsets, GRIDS["cartesian"])
    moved = batch.to("cpu")
    assert isinstance(moved, SparseBatch) and torch.equal(moved.coords, batch.coords)
    with pytest.raises(ValueError, match="offsets"):
        voxelize(xyz, features, torch.tensor([0, 5]), GRIDS["cartesian"])
    with pytest.raises(ValueError, match="first"):
        voxelize(xyz, features, offsets, GRIDS["cartesian"], reduce="max")
    with pytest.raises(ConfigError, match="cell_size"):
        VoxelGrid.cartesian(0.0)
