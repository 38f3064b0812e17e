"""Pictures of frames: points over camera images, a chase-camera perspective and bird's-eye maps
(numpy rasters, RGB).

Drawing is vectorised (points are splatted as small squares, far points first), so a full scan
draws in milliseconds; images are written with OpenCV. A point can be *marked* (drawn last,
larger, with a white ring), so a query point stays visible over its neighbours.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from seal_ros.core.projection import project_points
from seal_train.sources.frame import CameraView

__all__ = ["BACKGROUND", "birds_eye", "birds_eye_pixels", "chase_camera", "depth_colors",
           "perspective", "points_over_image", "splat", "viridis_colors", "write_png"]

BACKGROUND = 24
"""Grey level of the empty bird's-eye and perspective canvases."""
MARK_RADIUS = 2  # the marked point is a (2r+1)^2 square in its own colour
RING_RADIUS = 8  # and a white ring of this radius (pixels) around it


def depth_colors(depth: np.ndarray, max_depth: float = 50.0) -> np.ndarray:
    """(N,) metres -> (N, 3) uint8 RGB, near = red, far = blue (a simple jet-like ramp)."""
    t = np.clip(np.asarray(depth, dtype=np.float32) / max_depth, 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4.0 * t - 1.0), 0, 1)
    g = np.clip(1.5 - np.abs(4.0 * t - 2.0), 0, 1)
    b = np.clip(1.5 - np.abs(4.0 * t - 3.0), 0, 1)
    return (np.stack([r, g, b], axis=1) * 255).astype(np.uint8)


@cache
def _viridis_table() -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255 + 0.5).astype(np.uint8)


def viridis_colors(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """(N,) values -> (N, 3) uint8 RGB on matplotlib's viridis: ``vmin`` violet, ``vmax`` yellow
    (perceptually uniform, so equal steps of similarity look equal)."""
    span = max(vmax - vmin, 1e-12)
    t = np.clip((np.asarray(values, dtype=np.float64) - vmin) / span, 0.0, 1.0)
    return _viridis_table()[np.round(t * 255).astype(np.int64)]


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


def _mark(canvas: np.ndarray, row: int, col: int, color: np.ndarray) -> None:
    """The marked point: a white ring, then the point itself on top (its colour unchanged)."""
    import cv2

    cv2.circle(canvas, (int(col), int(row)), RING_RADIUS, (255, 255, 255), 2, cv2.LINE_AA)
    splat(canvas, np.array([row]), np.array([col]), color[None], MARK_RADIUS)


def points_over_image(xyz: np.ndarray, camera: CameraView, colors: np.ndarray | None = None,
                      max_depth: float = 50.0, radius: int = 1, mark: int | None = None
                      ) -> np.ndarray:
    """The camera image with the projected points drawn on it, far to near.

    ``colors`` is (N, 3) uint8 per point (e.g. label colours); by default points are coloured by
    depth. ``mark`` is a point index to mark when it lands in the image.
    """
    index, row, col, depth = project_points(xyz, camera.K, camera.T_cam_lidar, camera.height,
                                            camera.width)
    order = np.argsort(-depth, kind="stable")
    point_colors = depth_colors(depth, max_depth) if colors is None else colors[index]
    canvas = splat(camera.image.copy(), row[order], col[order], point_colors[order], radius)
    if mark is not None:
        hit = np.flatnonzero(index == mark)
        if hit.size:
            _mark(canvas, row[hit[0]], col[hit[0]], point_colors[hit[0]])
    return canvas


def birds_eye_pixels(xyz: np.ndarray, extent_m: float = 60.0, pixels_per_m: float = 8.0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(N,) int64 rows and columns of points in :func:`birds_eye` (may fall outside)."""
    col = np.floor((xyz[:, 0] + extent_m) * pixels_per_m).astype(np.int64)
    row = np.floor((extent_m - xyz[:, 1]) * pixels_per_m).astype(np.int64)
    return row, col


def birds_eye(xyz: np.ndarray, colors: np.ndarray, extent_m: float = 60.0,
              pixels_per_m: float = 8.0, mark: int | None = None) -> np.ndarray:
    """Top view of the scan (x right, y up in the picture) on a dark background."""
    size = int(2 * extent_m * pixels_per_m)
    canvas = np.full((size, size, 3), BACKGROUND, dtype=np.uint8)
    row, col = birds_eye_pixels(xyz, extent_m, pixels_per_m)
    order = np.argsort(xyz[:, 2], kind="stable")  # higher points drawn last
    splat(canvas, row[order], col[order], colors[order], radius=0)
    if mark is not None:
        _mark(canvas, row[mark], col[mark], colors[mark])
    return canvas


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) LiDAR -> camera (OpenCV axes: x right, y down, z forward) for a camera at ``eye``
    looking at ``target``, z up in the LiDAR frame."""
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])  # rows: camera axes in LiDAR coordinates
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ eye
    return T


def chase_camera(width: int = 960, height: int = 540, eye_m: tuple[float, float, float] =
                 (-22.0, 0.0, 14.0), target_m: tuple[float, float, float] = (14.0, 0.0, 0.0),
                 fov_deg: float = 75.0) -> CameraView:
    """A virtual camera behind and above the sensor looking ahead (empty dark image), so the
    perspective view goes through the same projection as the real cameras."""
    f = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    K = np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
    T = _look_at(np.asarray(eye_m, dtype=np.float64), np.asarray(target_m, dtype=np.float64))
    image = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    return CameraView("perspective", "perspective", image, K, T, 0)


def perspective(xyz: np.ndarray, colors: np.ndarray, camera: CameraView | None = None,
                mark: int | None = None) -> np.ndarray:
    """The scan seen from :func:`chase_camera` (or ``camera``), far points first."""
    return points_over_image(xyz, camera or chase_camera(), colors, radius=1, mark=mark)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (creating the folder)."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1])):
        raise OSError(f"{path}: could not write PNG")
    return path
