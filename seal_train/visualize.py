"""Pictures of frames: points over camera images and bird's-eye label maps (numpy rasters, RGB).

Drawing is vectorised (points are splatted as small squares, far points first), so a full scan
draws in milliseconds; images are written with OpenCV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seal_ros.core.projection import project_points
from seal_train.sources.frame import CameraView


def depth_colors(depth: np.ndarray, max_depth: float = 50.0) -> np.ndarray:
    """(N,) metres -> (N, 3) uint8 RGB, near = red, far = blue (a simple jet-like ramp)."""
    t = np.clip(np.asarray(depth, dtype=np.float32) / max_depth, 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4.0 * t - 1.0), 0, 1)
    g = np.clip(1.5 - np.abs(4.0 * t - 2.0), 0, 1)
    b = np.clip(1.5 - np.abs(4.0 * t - 3.0), 0, 1)
    return (np.stack([r, g, b], axis=1) * 255).astype(np.uint8)


def splat(canvas: np.ndarray, rows: np.ndarray, cols: np.ndarray, colors: np.ndarray,
          radius: int = 1) -> np.ndarray:
    """Paint (2*radius+1)^2 squares at (rows, cols) in order, later points on top; in place."""
    height, width = canvas.shape[:2]
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            r = rows + dr
            c = cols + dc
            ok = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            canvas[r[ok], c[ok]] = colors[ok]
    return canvas


def points_over_image(xyz: np.ndarray, camera: CameraView, colors: np.ndarray | None = None,
                      max_depth: float = 50.0, radius: int = 1) -> np.ndarray:
    """The camera image with the projected points drawn on it, far to near.

    ``colors`` is (N, 3) uint8 per point (e.g. label colours); by default points are coloured by
    depth.
    """
    index, row, col, depth = project_points(xyz, camera.K, camera.T_cam_lidar, camera.height,
                                            camera.width)
    order = np.argsort(-depth, kind="stable")
    point_colors = depth_colors(depth, max_depth) if colors is None else colors[index]
    canvas = camera.image.copy()
    return splat(canvas, row[order], col[order], point_colors[order], radius)


def birds_eye(xyz: np.ndarray, colors: np.ndarray, extent_m: float = 60.0,
              pixels_per_m: float = 8.0) -> np.ndarray:
    """Top view of the scan (x right, y up in the picture) on a dark background."""
    size = int(2 * extent_m * pixels_per_m)
    canvas = np.full((size, size, 3), 24, dtype=np.uint8)
    col = np.floor((xyz[:, 0] + extent_m) * pixels_per_m).astype(np.int64)
    row = np.floor((extent_m - xyz[:, 1]) * pixels_per_m).astype(np.int64)
    order = np.argsort(xyz[:, 2], kind="stable")  # higher points drawn last
    return splat(canvas, row[order], col[order], colors[order], radius=0)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (creating the folder)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"{path}: could not write PNG")
    return path
