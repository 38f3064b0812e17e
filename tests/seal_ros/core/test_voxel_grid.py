"""The voxel grid record: one constructor from a name (its torch-free import: test_config_files)."""

from __future__ import annotations

import pytest

from seal_ros.core.voxel_grid import GridKind, VoxelGrid
from seal_ros.errors import ConfigError


@pytest.mark.parametrize("kind", list(GridKind))
def test_from_name_builds_each_kind(kind: GridKind) -> None:
    grid = VoxelGrid.from_name(kind.value, 0.2)
    assert grid.kind is kind and VoxelGrid.from_name(kind, 0.2) == grid
    expected = {GridKind.CYLINDRICAL: VoxelGrid.cylindrical(),  # SLidR's: voxel size unused
                GridKind.CARTESIAN: VoxelGrid.cartesian(0.2)}[kind]
    assert grid == expected
    assert grid.kind == kind.value  # a str: YAML and configs keep the plain name


def test_bad_names_and_sizes_fail_clearly() -> None:
    with pytest.raises(ConfigError, match=r"grid: expected one of cylindrical, cartesian, got "
                                          r"'polar'"):
        VoxelGrid.from_name("polar")
    for size in (0.0, float("nan"), float("inf"), 1e-9, 1e9):  # zero, non-finite, absurd
        with pytest.raises(ConfigError, match=r"3 finite numbers in 0.001..1000.0"):
            VoxelGrid.from_name("cartesian", size)

