"""Sensor rig of the synthetic drive: a 32-beam spinning LiDAR and six pinhole cameras.

Frames (nuScenes conventions): ego x forward, y left, z up, origin on the ground under the rear
axle; the LiDAR frame is rotated like nuScenes ``LIDAR_TOP`` (x right, y forward, z up); camera
frames are optical (x right, y down, z forward).

Each sensor's rays are grouped in small rectangular tiles (:class:`TiledRays`) so the ray caster
tests a primitive only against the tiles its conservative angular footprint covers
(``tile_ranges``), instead of against every ray.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seal_ros.core.transforms import rigid
from seal_train.synth.record import CAMERA_NAMES

LIDAR_POSITION_EGO_M = (0.94, 0.0, 1.84)
"""LiDAR origin in the ego frame (nuScenes LIDAR_TOP sits at about this place)."""
LIDAR_ELEVATION_DEG = (-30.67, 10.67)
"""Lowest and highest beam of the HDL-32E; the 32 beams are evenly spaced in between."""
CAMERA_YAW_DEG = (0.0, -55.0, -110.0, 180.0, 110.0, 55.0)
"""Viewing direction of each camera of :data:`CAMERA_NAMES` about ego z (0 = forward, + = left)."""
CAMERA_HFOV_DEG = (70.0, 70.0, 70.0, 110.0, 70.0, 70.0)
CAMERA_HEIGHT_M = 1.80
CAMERA_RADIUS_M = 0.10
"""Cameras sit just below the LiDAR (4 cm), 10 cm out from its axis along their viewing direction.

Closer than nuScenes' rig (cameras ~1.5 m high, up to ~0.8 m from the LiDAR) on purpose: with that
baseline about 4 % of the projected points land on another surface (the LiDAR sees over car roofs
what the lower cameras cannot), which would blur the drive's role as an oracle for LiDAR/camera
pairing; here ~1.5 % mismatch remains, mostly pixel discretisation at silhouettes and objects moving
between the LiDAR and camera stamps.
"""

_ANGLE_EPS = 1e-4  # radians / bins of slack so culling stays conservative under rounding


def yaw_rotation(yaw: float) -> np.ndarray:
    """(3, 3) rotation about z by ``yaw`` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, eq=False)
class TiledRays:
    """Ray directions of one sensor grid (H, W) grouped in tiles of ``tile_h x tile_w`` rays.

    ``dirs`` is (n_ty * n_tx, tile_h * tile_w, 3) float32 in the sensor frame; tile
    ``ty * n_tx + tx`` holds grid rows ``ty * tile_h ...`` and columns ``tx * tile_w ...``; the grid
    is padded up to whole tiles and :meth:`untile` crops the padding again.
    """

    dirs: np.ndarray
    height: int
    width: int
    tile_h: int
    tile_w: int
    n_ty: int
    n_tx: int

    @classmethod
    def from_grid(cls, grid: np.ndarray, height: int, width: int, tile_h: int,
                  tile_w: int) -> TiledRays:
        """Tile a padded (n_ty * tile_h, n_tx * tile_w, 3) direction grid."""
        n_ty, n_tx = grid.shape[0] // tile_h, grid.shape[1] // tile_w
        tiles = grid.reshape(n_ty, tile_h, n_tx, tile_w, 3).swapaxes(1, 2)
        dirs = np.ascontiguousarray(tiles.reshape(n_ty * n_tx, tile_h * tile_w, 3),
                                    dtype=np.float32)
        return cls(dirs, height, width, tile_h, tile_w, n_ty, n_tx)

    def untile(self, values: np.ndarray) -> np.ndarray:
        """(n_tiles, T, ...) per-ray values -> (H, W, ...) grid."""
        extra = values.shape[2:]
        grid = values.reshape(self.n_ty, self.n_tx, self.tile_h, self.tile_w, *extra)
        grid = grid.swapaxes(1, 2).reshape(self.n_ty * self.tile_h, self.n_tx * self.tile_w,
                                           *extra)
        return grid[:self.height, :self.width]


def _padded(n: int, tile: int) -> int:
    return -(-n // tile) * tile


def _cone(num_c: np.ndarray, den_c: np.ndarray, num: np.ndarray, den: np.ndarray,
          radius: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angular range of ``atan2(num, den)`` over convex sets given by their corners.

    The range is exact for a convex polygon not containing the origin (its span is < pi and it
    contains the centre direction); ``full`` flags sets whose bounding circle holds the origin.
    """
    centre = np.arctan2(num_c, den_c)  # (P,)
    rel = np.arctan2(num, den) - centre[:, None]  # (P, 8)
    rel = (rel + np.pi) % (2.0 * np.pi) - np.pi
    full = np.hypot(num_c, den_c) <= radius
    return centre + rel.min(axis=1), centre + rel.max(axis=1), full


@dataclass(frozen=True, eq=False)
class TileRanges:
    """Per primitive: visible flag and the tile rectangle to test (tx wraps modulo n_tx)."""

    visible: np.ndarray  # (P,) bool
    ty0: np.ndarray  # (P,) int64
    ny: np.ndarray
    tx0: np.ndarray
    nx: np.ndarray


@dataclass(frozen=True, eq=False)
class PinholeCamera:
    """One camera: intrinsics, mounting, pixel-centre rays (pixel (r, c) looks through u=c, v=r)."""

    name: str
    K: np.ndarray  # (3, 3) float64
    T_ego_cam: np.ndarray  # (4, 4) float64, optical frame -> ego
    rays: TiledRays  # directions with z = 1, so ray parameter t is depth along the optical axis

    def tile_ranges(self, corners: np.ndarray, center: np.ndarray,
                    radius: np.ndarray) -> TileRanges:
        """Tiles that may see each box given by (P, 8, 3) corners in this camera's frame."""
        H, W = self.rays.height, self.rays.width
        lim = np.pi / 2 - 1e-4
        spans = []
        for axis, f, c, size in ((0, self.K[0, 0], self.K[0, 2], W),
                                 (1, self.K[1, 1], self.K[1, 2], H)):
            lo, hi, full = _cone(center[:, axis], center[:, 2], corners[..., axis],
                                 corners[..., 2], radius)
            lo = np.where(full, -lim, np.clip(lo, -lim, lim))
            hi = np.where(full, lim, np.clip(hi, -lim, lim))
            p0 = np.ceil(c + f * np.tan(lo) - 1e-3)
            p1 = np.floor(c + f * np.tan(hi) + 1e-3)
            ok = (p0 <= p1) & (p1 >= 0) & (p0 <= size - 1)
            spans.append((ok, np.clip(p0, 0, size - 1).astype(np.int64),
                          np.clip(p1, 0, size - 1).astype(np.int64)))
        (ok_u, c0, c1), (ok_v, r0, r1) = spans
        visible = ok_u & ok_v & (corners[..., 2].max(axis=1) > 0.05)
        ty0, tx0 = r0 // self.rays.tile_h, c0 // self.rays.tile_w
        return TileRanges(visible, ty0, r1 // self.rays.tile_h - ty0 + 1, tx0,
                          c1 // self.rays.tile_w - tx0 + 1)


@dataclass(frozen=True, eq=False)
class SpinningLidar:
    """32-beam LiDAR fired all at once: grid row = ring (0 = lowest beam), column = azimuth step."""

    T_ego_lidar: np.ndarray  # (4, 4) float64
    elevations: np.ndarray  # (B,) float64 radians, increasing
    azimuth_steps: int
    max_range_m: float
    rays: TiledRays  # unit directions, so ray parameter t is range

    def tile_ranges(self, corners: np.ndarray, center: np.ndarray, radius: np.ndarray,
                    r_xy_min: np.ndarray, r_min: np.ndarray) -> TileRanges:
        """Tiles that may see each box; ``r_xy_min`` / ``r_min``: horizontal / 3D distance to it."""
        rays = self.rays
        lo, hi, full = _cone(center[:, 1], center[:, 0], corners[..., 1], corners[..., 0], radius)
        step = 2.0 * np.pi / self.azimuth_steps
        j0 = np.where(full, 0, np.ceil(lo / step - _ANGLE_EPS)).astype(np.int64)
        j1 = np.where(full, self.azimuth_steps - 1,
                      np.floor(hi / step + _ANGLE_EPS)).astype(np.int64)
        tx0 = j0 // rays.tile_w
        nx = np.minimum(j1 // rays.tile_w - tx0 + 1, rays.n_tx)
        z_lo, z_hi = corners[..., 2].min(axis=1), corners[..., 2].max(axis=1)
        r_max = np.hypot(corners[..., 0], corners[..., 1]).max(axis=1)
        el_hi = np.arctan2(z_hi, np.where(z_hi > 0, r_xy_min, r_max))
        el_lo = np.arctan2(z_lo, np.where(z_lo < 0, r_xy_min, r_max))
        e0, de = self.elevations[0], self.elevations[1] - self.elevations[0]
        b0 = np.ceil((el_lo - e0) / de - _ANGLE_EPS)
        b1 = np.floor((el_hi - e0) / de + _ANGLE_EPS)
        B = len(self.elevations)
        visible = (j1 >= j0) & (b0 <= b1) & (b1 >= 0) & (b0 <= B - 1)
        visible &= r_min <= self.max_range_m
        b0 = np.clip(b0, 0, B - 1).astype(np.int64)
        b1 = np.clip(b1, 0, B - 1).astype(np.int64)
        ty0 = b0 // rays.tile_h
        return TileRanges(visible, ty0, b1 // rays.tile_h - ty0 + 1, tx0 % rays.n_tx, nx)


def build_lidar(beams: int, azimuth_steps: int, max_range_m: float, tile_h: int = 8,
                tile_w: int = 16) -> SpinningLidar:
    """The roof LiDAR; ``azimuth_steps`` must be a multiple of ``tile_w`` (the caller checks)."""
    R_ego_lidar = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    elevations = np.deg2rad(np.linspace(*LIDAR_ELEVATION_DEG, beams))
    azimuths = 2.0 * np.pi * np.arange(azimuth_steps) / azimuth_steps
    el = np.concatenate([elevations, np.full(_padded(beams, tile_h) - beams, elevations[-1])])
    el, az = np.meshgrid(el, azimuths, indexing="ij")
    grid = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)
    rays = TiledRays.from_grid(grid, beams, azimuth_steps, tile_h, tile_w)
    return SpinningLidar(rigid(R_ego_lidar, LIDAR_POSITION_EGO_M), elevations, azimuth_steps,
                         max_range_m, rays)


def build_cameras(width: int, height: int, tile_h: int = 8,
                  tile_w: int = 16) -> tuple[PinholeCamera, ...]:
    """The six cameras in :data:`CAMERA_NAMES` order, all with the same image size."""
    cameras = []
    lx, ly, _ = LIDAR_POSITION_EGO_M
    for name, yaw_deg, hfov_deg in zip(CAMERA_NAMES, CAMERA_YAW_DEG, CAMERA_HFOV_DEG, strict=True):
        yaw = np.deg2rad(yaw_deg)
        f = (width / 2.0) / np.tan(np.deg2rad(hfov_deg) / 2.0)
        K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0],
                      [0.0, 0.0, 1.0]])
        forward = np.array([np.cos(yaw), np.sin(yaw), 0.0])
        right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
        down = np.array([0.0, 0.0, -1.0])
        position = (lx + CAMERA_RADIUS_M * forward[0], ly + CAMERA_RADIUS_M * forward[1],
                    CAMERA_HEIGHT_M)
        T_ego_cam = rigid(np.stack([right, down, forward], axis=1), position)
        rows, cols = np.mgrid[0:_padded(height, tile_h), 0:_padded(width, tile_w)]
        grid = np.stack([(cols - K[0, 2]) / f, (rows - K[1, 2]) / f, np.ones(rows.shape)], -1)
        cameras.append(PinholeCamera(name, K, T_ego_cam,
                                     TiledRays.from_grid(grid, height, width, tile_h, tile_w)))
    return tuple(cameras)
