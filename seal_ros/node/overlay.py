"""Per-camera label overlays: labelled LiDAR points painted into the latest image of each camera.

A camera is usable for a scan when the node has its latest ``Image`` (rgb8, bgr8, rgba8, bgra8 or
mono8), its ``CameraInfo`` (pinhole K; the synthetic drive and rectified images have no
distortion, so none is applied) and the LiDAR -> camera transform, from ``cameras.extrinsics`` or
else ``/tf_static`` (cloud frame -> CameraInfo frame), and when the image stamp is within
``cameras.max_delay_ms`` of the cloud's. Only the newest image and info per camera are kept.

Projection is the training code's own (:func:`seal_ros.core.projection.project_points`: pixel
``(row, col)`` covers ``u, v`` in ``[col - 0.5, col + 0.5)``, points nearer than
:data:`~seal_ros.core.projection.MIN_DEPTH_M` are ignored), so an overlay shows the pixels the
network was distilled on; where several points land on one pixel the nearest one's colour wins (a
z-buffer by sort, no loop over points).
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from seal_ros.core.codec import stamp_to_ns
from seal_ros.core.images import decode_image
from seal_ros.core.projection import project_points
from seal_ros.core.transforms import TransformTree
from seal_ros.errors import ConfigError, CountedError, ImageError, TransformError
from seal_ros.node.params import CameraParams

__all__ = ["CameraOverlays", "NoOverlay", "NoOverlayReason", "Overlay", "paint_points"]


class NoOverlayReason(enum.StrEnum):
    """Why a camera gives no overlay for a scan (a normal condition: logged, not counted)."""

    NO_IMAGE = "no_image"
    NO_CAMERA_INFO = "no_camera_info"
    IMAGE_DELAY = "image_delay"  # the image is more than cameras.max_delay_ms from the cloud
    NO_TRANSFORM = "no_transform"
    BAD_IMAGE = "bad_image"


class NoOverlay(CountedError):
    """This camera gives no overlay for this scan; ``reason`` is a :class:`NoOverlayReason`."""

    def __init__(self, reason: NoOverlayReason, message: str) -> None:
        super().__init__(reason, message)


@dataclass(frozen=True)
class Overlay:
    """A camera image with the scan's points painted in."""

    rgb: np.ndarray  # (H, W, 3) uint8
    stamp_ns: int  # the image's stamp
    frame_id: str  # the image's frame


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

    def T_cam_lidar(self, camera: str, lidar_frame: str, camera_frame: str) -> np.ndarray:
        """The parameter's extrinsic for ``camera``, else ``camera_frame <- lidar_frame`` from TF
        (static lookup: the node keeps the newest transform per frame).

        Raises:
            TransformError: no parameter and no TF link between the two frames.
        """
        if camera in self._extrinsics:
            return self._extrinsics[camera]
        return self.tf.lookup(camera_frame, lidar_frame)

    def render(self, camera: str, xyz: np.ndarray, colours: np.ndarray, stamp_ns: int,
               lidar_frame: str) -> Overlay:
        """The camera's latest image with the points painted.

        Args:
            xyz: (N, 3) points of the scan (non-finite ones are skipped).
            colours: (N, 3) uint8 colour of each point.

        Raises:
            NoOverlay: no image or info yet, the image is too far in time, no transform, or the
                image does not decode (``reason`` says which).
        """
        with self._lock:
            state = self._cameras.get(camera)
            image, info = (state.image, state.info) if state is not None else (None, None)
        if image is None:
            raise NoOverlay(NoOverlayReason.NO_IMAGE, "no image yet")
        if info is None:
            raise NoOverlay(NoOverlayReason.NO_CAMERA_INFO, "no camera_info yet")
        image_ns = stamp_to_ns(image.header.stamp)
        delay_ms = abs(image_ns - stamp_ns) / 1e6
        if delay_ms > self.params.max_delay_ms:
            raise NoOverlay(NoOverlayReason.IMAGE_DELAY,
                            f"image is {delay_ms:.0f} ms from the cloud (cameras.max_delay_ms "
                            f"{self.params.max_delay_ms:g})")
        frame = str(info.header.frame_id or image.header.frame_id)
        try:
            T = self.T_cam_lidar(camera, lidar_frame, frame)
        except TransformError as err:
            raise NoOverlay(NoOverlayReason.NO_TRANSFORM,
                            f"no transform {lidar_frame!r} -> {frame!r}: set "
                            f"cameras.extrinsics.{camera} or publish it on /tf_static "
                            f"({err})") from err
        try:
            rgb = decode_image(image, f"camera {camera} image")
        except ImageError as err:
            raise NoOverlay(NoOverlayReason.BAD_IMAGE, str(err)) from err
        K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
        index, row, col, depth = project_points(xyz, K, T, rgb.shape[0], rgb.shape[1])
        paint_points(rgb, row, col, depth, colours[index], self.params.point_radius_px)
        return Overlay(rgb=rgb, stamp_ns=image_ns, frame_id=str(image.header.frame_id))
