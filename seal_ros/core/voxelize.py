"""Voxelise concatenated LiDAR scans into a sparse batch for the spconv backbone.

Scans are concatenated along the point axis and delimited by ``offsets`` (never padded). Each point
gets an integer cell in a cartesian or cylindrical grid; cells are packed with the scan index into
one key (:mod:`seal_ros.core.voxel_keys`) and made unique with
``torch.unique(return_inverse=True)``. The inverse map sends every point to its voxel, so per-voxel
network outputs are gathered back to all points (no point is lost).

The grid record (:class:`~seal_ros.core.voxel_grid.VoxelGrid`) is torch-free and re-exported here.

Voxel features: ``"first"`` keeps the features of the first point (lowest index) that falls in the
voxel, like MinkowskiEngine's ``sparse_quantize`` used by SLidR; ``"mean"`` averages the voxel's
points.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import torch

from seal_ros.core.voxel_grid import GridKind, VoxelGrid
from seal_ros.core.voxel_keys import KeyLayout

__all__ = ["MAX_CELL_INDEX", "GridKind", "SparseBatch", "VoxelGrid", "cells_in_range",
           "point_cells", "voxelize"]

MAX_CELL_INDEX = 1 << 18
"""A point is voxelised only when every cell index lies in ``(-MAX_CELL_INDEX, MAX_CELL_INDEX)``:
then a scan's cells, shifted to >= 0, take at most 20 bits per axis, so its keys fit at every
scale with room for the kernel reach (62 bits), and the float -> int64 cast cannot overflow (26 km
at 0.1 m cells). Points beyond it are what :func:`cells_in_range` rejects."""


class Reduce(enum.Enum):
    """How the features of the points in one voxel become the voxel's features."""

    FIRST = "first"
    MEAN = "mean"


@dataclass(frozen=True, slots=True)
class SparseBatch:
    """Voxelised scans, ready for :class:`seal_ros.core.minkunet.MinkUNet`.

    Attributes:
        coords: (M, 4) int32 [scan index, i, j, k] of the unique voxels, row-major, >= 0, sorted
            by scan then cell.
        features: (M, C) float32 voxel features.
        inverse: (N,) int64 voxel row of every input point; ``voxel_out[inverse]`` is per point.
        offsets: (B + 1,) int64 point offsets of the scans, ``offsets[0] == 0``, ``[-1] == N``.
        spatial_shape: cells per axis (i, j, k) covering every voxel.
    """

    coords: torch.Tensor
    features: torch.Tensor
    inverse: torch.Tensor
    offsets: torch.Tensor
    spatial_shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        M = self.coords.shape[0]
        if self.coords.dtype != torch.int32 or self.coords.shape != (M, 4):
            raise ValueError(f"coords must be (M, 4) int32, got {tuple(self.coords.shape)} "
                             f"{self.coords.dtype}")
        if not self.coords.is_contiguous():
            raise ValueError("coords must be contiguous (spconv reads them row-major)")
        if self.features.ndim != 2 or self.features.shape[0] != M:
            raise ValueError(f"features must be ({M}, C), got {tuple(self.features.shape)}")
        if self.inverse.dtype != torch.int64 or self.inverse.ndim != 1:
            raise ValueError(f"inverse must be (N,) int64, got {self.inverse.dtype}")
        if self.offsets.dtype != torch.int64 or self.offsets.ndim != 1:
            raise ValueError(f"offsets must be (B + 1,) int64, got {self.offsets.dtype}")

    @property
    def batch_size(self) -> int:
        """Number of scans B."""
        return self.offsets.shape[0] - 1

    @property
    def num_points(self) -> int:
        """Number of input points N."""
        return self.inverse.shape[0]

    def to(self, device: torch.device | str) -> SparseBatch:
        """The same batch on ``device`` (offsets stay wherever they are needed: moved too)."""
        return SparseBatch(
            coords=self.coords.to(device),
            features=self.features.to(device),
            inverse=self.inverse.to(device),
            offsets=self.offsets.to(device),
            spatial_shape=self.spatial_shape,
        )


def _grid_units(xyz: torch.Tensor, grid: VoxelGrid) -> torch.Tensor:
    """(N, 3) float64 coordinates in cell units (``coordinate / cell_size`` per axis)."""
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f"xyz must be (N, 3), got {tuple(xyz.shape)}")
    xyz = xyz.to(torch.float64)  # exact floor for coordinates up to ~1e5 m
    if grid.kind is GridKind.CYLINDRICAL:
        x, y, z = xyz.unbind(1)
        rho_m = torch.hypot(x, y)
        phi_deg = torch.atan2(y, x) * (180.0 / math.pi)  # [-180, 180]
        xyz = torch.stack([rho_m, phi_deg, z], dim=1)  # (N, 3)
    size = torch.tensor(grid.cell_size, dtype=torch.float64, device=xyz.device)
    return xyz / size


def point_cells(xyz: torch.Tensor, grid: VoxelGrid) -> torch.Tensor:
    """Integer cell of every point, before shifting to >= 0.

    Args:
        xyz: (N, 3) float, sensor frame, metres; every point in range (:func:`cells_in_range`),
            or its cell is undefined.
        grid: the voxel grid.

    Returns:
        (N, 3) int64 ``floor(coordinate / cell_size)`` per axis.
    """
    return torch.floor(_grid_units(xyz, grid)).to(torch.int64)


def cells_in_range(xyz: torch.Tensor, grid: VoxelGrid) -> torch.Tensor:
    """(N,) bool: True where the point is finite and its cell indices are below
    :data:`MAX_CELL_INDEX` in magnitude, i.e. it can be voxelised without overflow."""
    units = _grid_units(xyz, grid)
    return (units.abs() < MAX_CELL_INDEX).all(dim=1)  # NaN compares False: out of range too


def voxelize(
    xyz: torch.Tensor,
    features: torch.Tensor,
    offsets: torch.Tensor,
    grid: VoxelGrid,
    reduce: str = "first",
    align: int = 16,
) -> SparseBatch:
    """Voxelise concatenated scans, vectorised (no Python loop over points or scans).

    Args:
        xyz: (N, 3) float point coordinates, sensor frame, metres, all in range (callers drop
            the others with :func:`cells_in_range`, as the pipeline does).
        features: (N, C) float per-point input features (e.g. intensity).
        offsets: (B + 1,) int64 scan boundaries, ``offsets[0] == 0``, ``offsets[-1] == N``.
        grid: cartesian or cylindrical grid.
        reduce: ``"first"`` (features of the lowest-index point of the voxel) or ``"mean"``.
        align: cells are shifted to >= 0 by a multiple of ``align``, so a network with
            log2(align) stride-2 levels pools the same cells whatever else is in the batch
            (16 for MinkUNet's 4 levels).

    Returns:
        The sparse batch with unique voxels and the point-to-voxel inverse map.
    """
    try:
        mode = Reduce(reduce)
    except ValueError as err:
        choices = ", ".join(repr(r.value) for r in Reduce)
        raise ValueError(f"reduce must be one of {choices}, got {reduce!r}") from err
    N = xyz.shape[0]
    if features.ndim != 2 or features.shape[0] != N:
        raise ValueError(f"features must be ({N}, C), got {tuple(features.shape)}")
    offsets = offsets.to(device=xyz.device, dtype=torch.int64)
    if offsets.ndim != 1 or offsets.numel() < 2 or offsets[0] != 0 or offsets[-1] != N:
        raise ValueError(f"offsets must be (B + 1,) from 0 to N={N}, got {offsets.tolist()}")
    counts = offsets.diff()
    if bool((counts < 0).any()):
        raise ValueError("offsets must be non-decreasing")
    B = counts.numel()

    cells = point_cells(xyz, grid)  # (N, 3) int64
    if align < 1:
        raise ValueError(f"align must be >= 1, got {align}")
    if N:  # shift to >= 0 by a multiple of align: parity at every level is kept
        cells = cells - torch.div(cells.amin(dim=0), align, rounding_mode="floor") * align
    shape = (cells.amax(dim=0) + 1).tolist() if N else [1, 1, 1]
    D, H, W = (int(s) for s in shape)
    scan = torch.repeat_interleave(torch.arange(B, device=xyz.device), counts)  # (N,)
    layout = KeyLayout.for_extent((B - 1, D - 1, H - 1, W - 1))
    key = layout.pack(scan, *cells.unbind(1))  # int32 when it fits: the CPU sort is per byte
    uniq, inverse = torch.unique(key, return_inverse=True)  # (M,), (N,)
    M = uniq.shape[0]
    coords = layout.unpack(uniq)  # (M, 4) [scan, i, j, k], sorted

    if mode is Reduce.FIRST:
        point_index = torch.arange(N, device=xyz.device)
        first = torch.full((M,), N, dtype=torch.int64, device=xyz.device)
        first = first.scatter_reduce(0, inverse, point_index, reduce="amin")  # (M,)
        voxel_features = features[first]
    else:
        sums = features.new_zeros(M, features.shape[1]).index_add_(0, inverse, features)
        hits = torch.bincount(inverse, minlength=M).to(features.dtype)  # (M,)
        voxel_features = sums / hits[:, None]
    return SparseBatch(
        coords=coords,
        features=voxel_features.to(torch.float32).contiguous(),
        inverse=inverse,
        offsets=offsets,
        spatial_shape=(D, H, W),
    )
