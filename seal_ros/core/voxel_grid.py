"""The voxel grid record: kind and cell size, without torch.

Readers of configuration (the model package YAML, training configs, the export command line) build
grids without loading torch; :mod:`seal_ros.core.voxelize` uses them to voxelise. A grid is named
by its kind (``cylindrical`` | ``cartesian``): :meth:`VoxelGrid.from_name` is the one place a name
becomes a grid.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from seal_ros.config_files import parse_enum
from seal_ros.errors import ConfigError

__all__ = ["GridKind", "VoxelGrid"]

MIN_CELL, MAX_CELL = 1e-3, 1e3
"""Cell sizes outside these (1 mm, 1 km; degrees for phi) are a typo, not a grid."""


class GridKind(enum.StrEnum):
    """Coordinate system of the voxel grid (a ``str``: YAML and configs keep the plain name)."""

    CYLINDRICAL = "cylindrical"  # cells (rho, phi, z), sizes in m, deg, m; phi = atan2(y, x)
    CARTESIAN = "cartesian"  # cells (x, y, z), sizes in m


@dataclass(frozen=True, slots=True)
class VoxelGrid:
    """A voxel grid: kind and cell size per axis.

    Attributes:
        kind: cartesian or cylindrical.
        cell_size: (3,) cell size per axis: (x_m, y_m, z_m) or (rho_m, phi_deg, z_m).
    """

    kind: GridKind
    cell_size: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.cell_size) != 3 or not all(
                math.isfinite(s) and MIN_CELL <= s <= MAX_CELL for s in self.cell_size):
            raise ConfigError(f"voxel cell_size must be 3 finite numbers in {MIN_CELL}..{MAX_CELL} "
                              f"(m, or deg for the cylindrical phi), got {self.cell_size}")

    @classmethod
    def cartesian(cls, voxel_size_m: float = 0.1) -> VoxelGrid:
        """Cubic cells of ``voxel_size_m`` metres."""
        return cls(GridKind.CARTESIAN, (voxel_size_m, voxel_size_m, voxel_size_m))

    @classmethod
    def cylindrical(
        cls, rho_m: float = 0.1, phi_deg: float = 1.0, z_m: float = 0.1
    ) -> VoxelGrid:
        """SLidR's grid: rho 0.1 m, phi 1 deg, z 0.1 m."""
        return cls(GridKind.CYLINDRICAL, (rho_m, phi_deg, z_m))

    @classmethod
    def from_name(cls, kind: GridKind | str, voxel_size_m: float = 0.1, setting: str = "grid"
                  ) -> VoxelGrid:
        """The grid a config or command line names: SLidR's cylindrical grid, or cubic cartesian
        cells of ``voxel_size_m`` (the cylindrical grid ignores it).

        Raises:
            ConfigError: ``kind`` is not a grid kind (the message names ``setting``, where the
                name came from, and lists the kinds).
        """
        if parse_enum(GridKind, kind, setting) is GridKind.CYLINDRICAL:
            return cls.cylindrical()
        return cls.cartesian(voxel_size_m)
