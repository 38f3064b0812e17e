"""The one record every data source yields, and the LiDAR-to-camera projection on it.

Every later stage (superpixels, pairing, training, evaluation) consumes only :class:`Frame`, so a
new dataset is one adapter that builds Frames. Arrays are checked once here; consumers trust them.

Conventions (shared with the node): ``T_b_a`` is a 4x4 float64 rigid transform mapping frame ``a``
to frame ``b`` (:mod:`seal_ros.core.transforms`); points land on pixels by
:func:`seal_ros.core.projection.project_points`, the function the node's overlays use too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from seal_ros.core.projection import MIN_DEPTH_M, project_points
from seal_ros.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    from seal_ros.labels import LabelMap

__all__ = ["CameraView", "Frame", "Pairs", "project"]


def _check_transform(name: str, T: np.ndarray, where: str) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise DatasetError(f"{where}: {name} must be a finite 4x4 transform, got shape {T.shape}")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0]):
        raise DatasetError(f"{where}: {name} last row must be [0, 0, 0, 1], got {T[3].tolist()}")
    return T


@dataclass(frozen=True, eq=False)
class CameraView:
    """One camera image taken with a LiDAR scan, with what is needed to project points into it.

    Attributes:
        name: camera name, e.g. ``CAM_FRONT`` (nuScenes names for the synthetic drive).
        image_id: stable id of this image (superpixel cache key): nuScenes sample_data token,
            ``<sequence>/image_2/<frame>`` for KITTI, ``<topic>/<stamp_ns>`` for bags.
        image: (H, W, 3) uint8 RGB.
        K: (3, 3) float64 pinhole intrinsics.
        T_cam_lidar: (4, 4) float64, LiDAR frame at the scan stamp -> camera frame at the image's
            own stamp (ego motion between the two is inside).
        stamp_ns: image timestamp in nanoseconds.
        instance_mask: optional (H, W) uint16 instance id per pixel (0 = background/sky); only the
            synthetic drive has it (the oracle "perfect VFM").
    """

    name: str
    image_id: str
    image: np.ndarray
    K: np.ndarray
    T_cam_lidar: np.ndarray
    stamp_ns: int
    instance_mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        where = f"camera {self.name} ({self.image_id})"
        image = np.asarray(self.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DatasetError(f"{where}: image must be (H, W, 3) uint8 RGB, got "
                               f"{image.shape} {image.dtype}")
        K = np.asarray(self.K, dtype=np.float64)
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise DatasetError(f"{where}: K must be a finite 3x3 intrinsic matrix with positive "
                               f"focal lengths, got {K.tolist()}")
        object.__setattr__(self, "image", image)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "T_cam_lidar",
                           _check_transform("T_cam_lidar", self.T_cam_lidar, where))
        if self.instance_mask is not None:
            mask = np.asarray(self.instance_mask)
            if mask.shape != image.shape[:2] or mask.dtype != np.uint16:
                raise DatasetError(f"{where}: instance_mask must be {image.shape[:2]} uint16, got "
                                   f"{mask.shape} {mask.dtype}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True, eq=False)
class Frame:
    """One LiDAR scan with its cameras, poses and (optionally) labels.

    Attributes:
        frame_id: stable id (nuScenes sample_data token, ``<sequence>/<frame>``,
            ``<topic>/<stamp>``).
        sequence: scene / sequence / bag name the frame belongs to.
        points: (N, C) float32 in the LiDAR (sensor) frame; columns named by ``channels``, the first
            three always ``x, y, z``.
        channels: names of the point columns, e.g. ``("x", "y", "z", "intensity", "ring")``.
        stamp_ns: scan timestamp in nanoseconds.
        T_ego_lidar: (4, 4) float64 LiDAR -> ego (vehicle) frame.
        T_world_ego: (4, 4) float64 ego -> world at ``stamp_ns``.
        cameras: images taken with this scan (may be empty).
        labels: optional (N,) uint32 per-point label in the source's *raw* ids.
        label_map: turns raw ids into training classes; required when ``labels`` is given.
        instances: optional (N,) uint32 per-point instance id (0 = none).
    """

    frame_id: str
    sequence: str
    points: np.ndarray
    channels: tuple[str, ...]
    stamp_ns: int
    T_ego_lidar: np.ndarray
    T_world_ego: np.ndarray
    cameras: tuple[CameraView, ...] = ()
    labels: np.ndarray | None = None
    label_map: LabelMap | None = None
    instances: np.ndarray | None = None
    extras: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"frame {self.frame_id}"
        points = np.asarray(self.points)
        if points.ndim != 2 or points.dtype != np.float32:
            raise DatasetError(f"{where}: points must be (N, C) float32, got {points.shape} "
                               f"{points.dtype}")
        channels = tuple(self.channels)
        if channels[:3] != ("x", "y", "z") or len(channels) != points.shape[1]:
            raise DatasetError(f"{where}: channels {channels} must start with x, y, z and name all "
                               f"{points.shape[1]} point columns")
        if not np.all(np.isfinite(points[:, :3])):
            bad = int((~np.isfinite(points[:, :3]).all(axis=1)).sum())
            raise DatasetError(f"{where}: {bad} of {len(points)} points have NaN/inf coordinates")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "cameras", tuple(self.cameras))
        object.__setattr__(self, "T_ego_lidar", _check_transform("T_ego_lidar", self.T_ego_lidar,
                                                                 where))
        object.__setattr__(self, "T_world_ego", _check_transform("T_world_ego", self.T_world_ego,
                                                                 where))
        n = len(points)
        for name in ("labels", "instances"):
            values = getattr(self, name)
            if values is None:
                continue
            values = np.asarray(values)
            if values.shape != (n,):
                raise DatasetError(f"{where}: {name} has {values.shape[0] if values.ndim else 0} "
                                   f"entries for {n} points; expected one per point")
            if values.dtype != np.uint32:
                if values.size and (values.min() < 0 or values.max() > np.iinfo(np.uint32).max):
                    raise DatasetError(f"{where}: {name} out of uint32 range")
                values = values.astype(np.uint32)
            object.__setattr__(self, name, values)
        if self.labels is not None and self.label_map is None:
            raise DatasetError(f"{where}: labels given without a label map")

    @property
    def xyz(self) -> np.ndarray:
        """(N, 3) float32 view of the coordinates in the LiDAR frame."""
        return self.points[:, :3]

    def channel(self, name: str) -> np.ndarray:
        """(N,) view of one named point column."""
        try:
            return self.points[:, self.channels.index(name)]
        except ValueError:
            raise DatasetError(f"frame {self.frame_id}: no point channel {name!r}; it has "
                               f"{self.channels}") from None

    @property
    def T_world_lidar(self) -> np.ndarray:
        """(4, 4) LiDAR -> world at the scan stamp."""
        return self.T_world_ego @ self.T_ego_lidar

    def train_labels(self) -> np.ndarray:
        """(N,) int64 training class per point (0 = ignore), through ``label_map``."""
        if self.labels is None or self.label_map is None:
            raise DatasetError(f"frame {self.frame_id}: has no labels")
        try:
            return self.label_map.to_train(self.labels, where=f"frame {self.frame_id}")
        except ConfigError as err:  # ids the map does not know: the frame's data is at fault
            raise DatasetError(str(err)) from err


@dataclass(frozen=True)
class Pairs:
    """Point <-> pixel correspondences of one frame; a point seen by two cameras appears twice.

    All arrays have shape (P,).
    """

    point_index: np.ndarray  # int64, row in Frame.points
    camera_index: np.ndarray  # int64, index in Frame.cameras
    row: np.ndarray  # int64 pixel row
    col: np.ndarray  # int64 pixel column
    depth: np.ndarray  # float32 metres along the camera's optical axis

    def __len__(self) -> int:
        return int(self.point_index.shape[0])


def project(frame: Frame, min_depth: float = MIN_DEPTH_M) -> Pairs:
    """All point -> (camera, row, col) pairs of a frame with depth > ``min_depth`` and in-image."""
    parts: list[tuple[np.ndarray, ...]] = []
    for cam_index, cam in enumerate(frame.cameras):
        index, row, col, depth = project_points(frame.xyz, cam.K, cam.T_cam_lidar, cam.height,
                                                cam.width, min_depth)
        parts.append((index, np.full_like(index, cam_index), row, col, depth))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty, empty, np.zeros(0, dtype=np.float32))
    return Pairs(*(np.concatenate(column) for column in zip(*parts, strict=True)))
