"""How surfaces look to the cameras and the LiDAR: textures, sun shading, sky, haze, intensity.

All functions are vectorised over M hit points; textures are deterministic functions of world or
local coordinates (integer hashing), so a surface looks the same from every camera and frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seal_train.synth.town import DRIVEABLE, OTHER_FLAT, SIDEWALK, TERRAIN, Material


@dataclass(frozen=True, eq=False)
class Look:
    """Lighting of one scene."""

    sun: np.ndarray  # (3,) float32 unit vector towards the sun, world frame
    sky_horizon: np.ndarray  # (3,) float32 RGB 0..1
    sky_zenith: np.ndarray  # (3,) float32
    haze_m: float  # distance at which 63 % of a surface's colour is replaced by haze
    ambient: float = 0.45

    @classmethod
    def random(cls, rng: np.random.Generator) -> Look:
        azimuth, elevation = rng.uniform(0, 2 * np.pi), rng.uniform(np.deg2rad(30), np.deg2rad(60))
        sun = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                        np.sin(elevation)], dtype=np.float32)
        horizon = np.array([0.80, 0.85, 0.90]) * rng.uniform(0.92, 1.05)
        zenith = np.array([0.30, 0.50, 0.82]) * rng.uniform(0.85, 1.1)
        return cls(sun, horizon.astype(np.float32), zenith.astype(np.float32),
                   float(rng.uniform(180.0, 300.0)))


def _hash01(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1) per integer lattice cell (float32)."""
    h = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ (salt * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    h = (h ^ (h >> 16)) & 0xFFFF
    return (h.astype(np.float32) / np.float32(65535.0))


def value_noise(x: np.ndarray, y: np.ndarray, scale: float, salt: int) -> np.ndarray:
    """Smooth noise in [-1, 1] with features of about ``scale`` metres (bilinear lattice)."""
    gx, gy = x / scale, y / scale
    ix, iy = np.floor(gx), np.floor(gy)
    fx, fy = (gx - ix).astype(np.float32), (gy - iy).astype(np.float32)
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    a, b = _hash01(ix, iy, salt), _hash01(ix + 1, iy, salt)
    c, d = _hash01(ix, iy + 1, salt), _hash01(ix + 1, iy + 1, salt)
    return 2.0 * ((a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy) - 1.0


def ground_texture(x: np.ndarray, y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(M,) brightness factor of ground hits: asphalt grain, paving slabs, patchy grass."""
    fine = value_noise(x, y, 0.7, 1)
    coarse = value_noise(x, y, 4.0, 2)
    amp = np.where(labels == TERRAIN, 0.16, np.where(labels == DRIVEABLE, 0.05, 0.07))
    factor = 1.0 + amp * fine + np.where(labels == TERRAIN, 0.12, 0.04) * coarse
    slab = (labels == SIDEWALK) | (labels == OTHER_FLAT)
    joints = (np.mod(x, 1.5) < 0.06) | (np.mod(y, 1.5) < 0.06)
    return np.where(slab & joints, factor * 0.82, factor).astype(np.float32)


def object_texture(material: np.ndarray, world: np.ndarray, local: np.ndarray,
                   normal_local_axis: np.ndarray, half: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(M,) brightness factor and (M,) window mask of primitive hits (window glass is dark blue).

    Facades get a window grid on their vertical faces; foliage gets strong leafy noise.
    """
    factor = np.ones(len(material), dtype=np.float32)
    leafy = material == Material.FOLIAGE
    if leafy.any():
        w = world[leafy]
        factor[leafy] = 1.0 + 0.28 * value_noise(w[:, 0] + w[:, 2], w[:, 1] - w[:, 2], 0.35, 3)
    windows = np.zeros(len(material), dtype=bool)
    facade = (material == Material.FACADE) & (normal_local_axis != 2)
    if facade.any():
        lp = local[facade]
        along = np.where(normal_local_axis[facade] == 0, lp[:, 1], lp[:, 0])
        height = lp[:, 2] + half[facade, 2]  # above the ground
        windows[facade] = ((np.mod(along, 3.0) > 0.8) & (np.mod(along, 3.0) < 2.2)
                           & (np.mod(height, 3.2) > 1.0) & (np.mod(height, 3.2) < 2.5)
                           & (height > 1.5) & (height < 2 * half[facade, 2] - 0.8))
    return factor, windows


def sky_color(dirs: np.ndarray, look: Look) -> np.ndarray:
    """(M, 3) sky colour for unit world directions (M, 3): horizon haze to zenith blue."""
    k = np.clip(dirs[:, 2:3] * 2.2, 0.0, 1.0)
    return look.sky_horizon * (1 - k) + look.sky_zenith * k


def shade(albedo: np.ndarray, normal: np.ndarray, dist: np.ndarray, look: Look) -> np.ndarray:
    """Lambertian sun + ambient, then distance haze: (M, 3) float32 RGB 0..1."""
    lit = look.ambient + (1.0 - look.ambient) * np.maximum(
        normal[:, 0] * look.sun[0] + normal[:, 1] * look.sun[1] + normal[:, 2] * look.sun[2], 0.0)
    fog = (1.0 - np.exp(-dist / look.haze_m))[:, None]
    return albedo * lit[:, None] * (1 - fog) + look.sky_horizon * fog


def lidar_intensity(reflect: np.ndarray, cos_incidence: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """(M,) float32 intensity 0..255 from reflectivity and incidence, with a little noise."""
    value = 255.0 * reflect * (0.25 + 0.75 * cos_incidence) + rng.normal(0.0, 2.0, len(reflect))
    return np.clip(np.round(value), 0, 255).astype(np.float32)
