"""LiDAR point -> camera pixel projection: one copy for the node's overlays and training's pairs.

Overlays drawn on the vehicle and the point-pixel pairs the network is distilled on must put a
point on the same pixel, so both call :func:`project_points`.

Conventions (frames as in :mod:`seal_ros.core.transforms`):

- Pinhole ``K`` without distortion (rectified images; the synthetic drive has none).
- Pixel centres sit at integer coordinates (OpenCV convention): a projected point at ``(u, v)``
  lands on pixel ``(row, col) = (floor(v + 0.5), floor(u + 0.5))``.
- Points at or nearer than :data:`MIN_DEPTH_M` along the optical axis are not projected.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MIN_DEPTH_M", "project_points"]

MIN_DEPTH_M = 1.0
"""Points closer than this to a camera are not paired with it (SLidR's ``min_dist``)."""


def project_points(xyz: np.ndarray, K: np.ndarray, T_cam_lidar: np.ndarray, height: int,
                   width: int, min_depth: float = MIN_DEPTH_M
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Project LiDAR points into one ``height`` x ``width`` pinhole image.

    Args:
        xyz: (N, 3) points in the LiDAR frame (any float dtype; non-finite points are skipped).
        K: (3, 3) intrinsics.
        T_cam_lidar: (4, 4) LiDAR -> camera optical frame (x right, y down, z forward).

    Returns:
        ``(index, row, col, depth)``, each (P,): int64 row of ``xyz``, int64 pixel row and column,
        float32 metres along the optical axis, for the points deeper than ``min_depth`` that land
        on a pixel; in the order of ``xyz``.

    Raises:
        ValueError: an argument of the wrong shape.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    T_cam_lidar = np.asarray(T_cam_lidar, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or K.shape != (3, 3) or T_cam_lidar.shape != (4, 4):
        raise ValueError(f"project_points takes xyz (N, 3), K (3, 3), T_cam_lidar (4, 4); got "
                         f"{xyz.shape}, {K.shape}, {T_cam_lidar.shape}")
    with np.errstate(invalid="ignore"):  # inf * 0 of a non-finite point: dropped just below
        cam = xyz @ T_cam_lidar[:3, :3].T + T_cam_lidar[:3, 3]  # (N, 3) in the camera frame
    depth = cam[:, 2]
    front = np.flatnonzero(np.isfinite(cam).all(axis=1) & (depth > min_depth))
    uvw = cam[front] @ K.T  # (M, 3)
    col = np.floor(uvw[:, 0] / uvw[:, 2] + 0.5)
    row = np.floor(uvw[:, 1] / uvw[:, 2] + 0.5)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    index = front[inside].astype(np.int64)
    return (index, row[inside].astype(np.int64), col[inside].astype(np.int64),
            depth[index].astype(np.float32))
