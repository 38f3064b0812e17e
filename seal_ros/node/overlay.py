"""Per-camera label overlays: labelled LiDAR points painted into the latest image of each camera.

A camera is usable for a scan when the node has its latest ``Image`` (rgb8, bgr8, rgba8, bgra8 or
mono8), its ``CameraInfo`` (pinhole K; the synthetic drive and rectified images have no
distortion, so none is applied) and the LiDAR -> camera transform, from ``cameras.extrinsics`` or
else ``/tf_static`` (cloud frame -> CameraInfo frame), and when the image stamp is within
``cameras.max_delay_ms`` of the cloud's. Only the newest image and info per camera are kept.

Projection uses the pixel-centre convention of the training code (pixel ``(row, col)`` covers
``u, v`` in ``[col - 0.5, col + 0.5)``), points nearer than 1 m are ignored, and where several
points land on one pixel the nearest one's colour wins (a z-buffer by sort, no loop over points).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from seal_ros.core.codec import stamp_to_ns
from seal_ros.node.params import CameraParams
from seal_ros.node.transforms import TransformTree

__all__ = ["CameraOverlays", "decode_image", "paint_points", "project_points"]

MIN_DEPTH_M = 1.0
_CHANNELS = {"rgb8": (3, (0, 1, 2)), "bgr8": (3, (2, 1, 0)), "rgba8": (4, (0, 1, 2)),
             "bgra8": (4, (2, 1, 0)), "mono8": (1, (0, 0, 0))}


def decode_image(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of a ``sensor_msgs/Image`` (8-bit encodings).

    Raises:
        ValueError: another encoding, or data shorter than ``height * step``.
    """
    encoding = str(msg.encoding).lower()
    if encoding not in _CHANNELS:
        raise ValueError(f"image encoding {msg.encoding!r}; overlays read "
                         f"{sorted(_CHANNELS)}")
    channels, order = _CHANNELS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(msg.data, dtype=np.uint8) if not isinstance(msg.data, np.ndarray) \
        else msg.data.reshape(-1).view(np.uint8)
    if step < width * channels or data.size < height * step:
        raise ValueError(f"image {width}x{height} {encoding}: step {step} and {data.size} bytes "
                         f"do not hold it (need step >= {width * channels}, "
                         f"bytes >= {height * step})")
    rows = data[:height * step].reshape(height, step)[:, :width * channels]
    pixels = rows.reshape(height, width, channels)
    return np.ascontiguousarray(pixels[:, :, list(order)])


def project_points(xyz: np.ndarray, K: np.ndarray, T_cam_lidar: np.ndarray, height: int,
                   width: int, min_depth: float = MIN_DEPTH_M
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(index, row, col, depth)`` of the points in front of the camera that land on a pixel."""
    xyz = np.asarray(xyz, dtype=np.float64)
    cam = xyz @ T_cam_lidar[:3, :3].T + T_cam_lidar[:3, 3]  # (N, 3) camera frame
    depth = cam[:, 2]
    front = np.flatnonzero(np.isfinite(cam).all(axis=1) & (depth > min_depth))
    uvw = cam[front] @ np.asarray(K, dtype=np.float64).T  # (M, 3)
    col = np.floor(uvw[:, 0] / uvw[:, 2] + 0.5)
    row = np.floor(uvw[:, 1] / uvw[:, 2] + 0.5)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    return (front[inside], row[inside].astype(np.int64), col[inside].astype(np.int64),
            depth[front[inside]])


def paint_points(image: np.ndarray, row: np.ndarray, col: np.ndarray, depth: np.ndarray,
                 colours: np.ndarray, radius_px: int = 2) -> np.ndarray:
    """Paint discs of ``colours`` (P, 3) at (row, col) into ``image`` (H, W, 3), nearest on top."""
    height, width = image.shape[:2]
    r = max(int(radius_px), 0)
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = (dx * dx + dy * dy) <= r * r
    dy, dx = dy[disc], dx[disc]  # (D,)
    rows = (row[:, None] + dy[None, :]).reshape(-1)  # (P * D,)
    cols = (col[:, None] + dx[None, :]).reshape(-1)
    owner = np.repeat(np.arange(row.size), dy.size)
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    pixel = rows[inside] * width + cols[inside]
    owner = owner[inside]
    order = np.lexsort((depth[owner], pixel))  # by pixel, nearest first
    _, first = np.unique(pixel[order], return_index=True)
    win = order[first]
    flat = image.reshape(-1, 3)
    flat[pixel[win]] = colours[owner[win]]
    return image


@dataclass
class _Camera:
    image: Any = None
    info: Any = None


class CameraOverlays:
    """Latest image and CameraInfo per configured camera; renders overlays for a scan.

    Thread-safe: the adapter's reader thread stores messages, the worker renders.
    """

    def __init__(self, params: CameraParams, tf: TransformTree) -> None:
        self.params = params
        self.tf = tf
        self._cameras = {name: _Camera() for name in params.names}
        self._lock = threading.Lock()
        self._extrinsics: dict[str, np.ndarray] = {}
        for name, values in params.extrinsics.items():
            matrix = np.asarray(values, dtype=np.float64)
            if matrix.size != 16:
                from seal_ros.errors import ConfigError

                raise ConfigError(f"cameras.extrinsics.{name}: {matrix.size} numbers; expected 16 "
                                  f"(4x4 lidar->camera, row-major)")
            self._extrinsics[name] = matrix.reshape(4, 4)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._cameras)

    def on_image(self, camera: str, msg: Any) -> None:
        with self._lock:
            if camera in self._cameras:
                self._cameras[camera].image = msg

    def on_camera_info(self, camera: str, msg: Any) -> None:
        with self._lock:
            if camera in self._cameras:
                self._cameras[camera].info = msg

    def T_cam_lidar(self, camera: str, lidar_frame: str, camera_frame: str) -> np.ndarray | None:
        """The parameter's extrinsic for ``camera``, else TF's ``camera_frame <- lidar_frame``."""
        if camera in self._extrinsics:
            return self._extrinsics[camera]
        return self.tf.lookup(camera_frame, lidar_frame)

    def render(self, camera: str, xyz: np.ndarray, colours: np.ndarray, stamp_ns: int,
               lidar_frame: str) -> tuple[np.ndarray, int, str] | str:
        """``(rgb image, image stamp, image frame)`` with the points painted, or why not (str).

        Args:
            xyz: (N, 3) points of the scan (non-finite ones are skipped).
            colours: (N, 3) uint8 colour of each point.
        """
        with self._lock:
            state = self._cameras.get(camera)
            image, info = (state.image, state.info) if state is not None else (None, None)
        if image is None or info is None:
            return "no image yet" if image is None else "no camera_info yet"
        image_ns = stamp_to_ns(image.header.stamp)
        delay_ms = abs(image_ns - stamp_ns) / 1e6
        if delay_ms > self.params.max_delay_ms:
            return (f"image is {delay_ms:.0f} ms from the cloud (cameras.max_delay_ms "
                    f"{self.params.max_delay_ms:g})")
        frame = str(info.header.frame_id or image.header.frame_id)
        T = self.T_cam_lidar(camera, lidar_frame, frame)
        if T is None:
            return f"no transform {lidar_frame!r} -> {frame!r} on /tf_static"
        try:
            rgb = decode_image(image)
        except ValueError as err:
            return str(err)
        K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
        index, row, col, depth = project_points(xyz, K, T, rgb.shape[0], rgb.shape[1])
        paint_points(rgb, row, col, depth, colours[index], self.params.point_radius_px)
        return rgb, image_ns, str(image.header.frame_id)
