"""One LiDAR-like synthetic scan for every place that needs points without a recording.

The node's warm-up, the export's ONNX-vs-torch check, the benchmarks and the tests all draw from
this maker, so a figure measured on "a synthetic scan" means the same geometry everywhere: a ground
disk denser near the sensor (as a spinning LiDAR sees it), twelve vertical walls and free-standing
clutter. The layout matters for sparse convolutions: uniform random points give almost no voxel
neighbours, real scans give surfaces; this one gives surfaces. numpy only: the warm-up of a
vehicle install and a YAML reader never need torch for it.
"""

from __future__ import annotations

import numpy as np

WALLS = 12
MIN_RANGE_M, MAX_RANGE_M = 3.0, 50.0
GROUND_Z_M = -1.8  # sensor height above the road, roughly a roof-mounted LiDAR
CLUTTER_HEIGHT_M = 4.3


def lidar_like_scan(points: int, seed: int = 0,
                    channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic scan: half ground, a quarter walls, a quarter clutter.

    Args:
        points: number of points N (>= 4).
        seed: the scan is a function of (points, seed, channels) only.
        channels: feature columns (intensity first).

    Returns:
        xyz (N, 3) float32, sensor frame, metres; features (N, channels) float32 in [0, 1).
    """
    if points < 4:
        raise ValueError(f"lidar_like_scan: points {points}: expected at least 4")
    rng = np.random.default_rng(seed)
    n_ground, n_wall = points // 2, points // 4
    n_free = points - n_ground - n_wall
    span = MAX_RANGE_M - MIN_RANGE_M
    wall_r = 8.0 + 32.0 * rng.random(WALLS)
    wall_phi = 2 * np.pi * rng.random(WALLS)
    wall = rng.integers(0, WALLS, n_wall)
    r = np.concatenate([MIN_RANGE_M + span * np.sqrt(rng.random(n_ground)),  # ground ~ 1/r
                        wall_r[wall] + 0.05 * rng.random(n_wall),  # walls ~20 deg wide
                        MIN_RANGE_M + 0.8 * span * rng.random(n_free)])
    phi = np.concatenate([2 * np.pi * rng.random(n_ground),
                          wall_phi[wall] + 0.35 * rng.random(n_wall),
                          2 * np.pi * rng.random(n_free)])
    z = np.concatenate([GROUND_Z_M + 0.15 * rng.random(n_ground),
                        GROUND_Z_M + CLUTTER_HEIGHT_M * rng.random(n_wall),
                        GROUND_Z_M + CLUTTER_HEIGHT_M * rng.random(n_free)])
    xyz = np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1).astype(np.float32)
    return xyz, rng.random((points, channels), dtype=np.float32)
