"""Records the synthetic drive hands to its format writers.

A :class:`SynthFrame` is a :class:`~seal_train.sources.frame.Frame` plus what a Frame folds away but
a dataset format stores separately: the static camera rig and the ego pose at each camera's own
stamp (``T_cam_lidar = inv(T_ego_cam) @ inv(T_world_ego_cam) @ T_world_ego @ T_ego_lidar``), and the
object boxes (nuScenes ``sample_annotation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seal_train.sources.frame import Frame

CAMERA_NAMES = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT",
                "CAM_FRONT_LEFT")
"""The six cameras in nuScenes' layout and order."""

LIDAR_NAME = "LIDAR_TOP"
POINT_CHANNELS = ("x", "y", "z", "intensity", "ring")
"""Columns of the synthetic scans: metres in the LiDAR frame, intensity 0..255, ring 0..31."""


@dataclass(frozen=True)
class SynthBox:
    """One object at the scan stamp (world frame), as nuScenes annotates it.

    Attributes:
        instance: instance id, stable over the scene, equal to its per-point / per-pixel id.
        raw_label: nuScenes lidarseg raw class id (e.g. 17 = vehicle.car).
        center: (3,) float64 box centre, world frame, metres.
        size_wlh: (3,) float64 width, length, height in metres (nuScenes order).
        yaw: heading about world z, radians.
        velocity: (3,) float64 world-frame velocity, m/s.
    """

    instance: int
    raw_label: int
    center: np.ndarray
    size_wlh: np.ndarray
    yaw: float
    velocity: np.ndarray


@dataclass(frozen=True, eq=False)
class SynthFrame:
    """One rendered scan with its six cameras.

    ``frame`` holds points (N, 5) with :data:`POINT_CHANNELS`, nuScenes raw labels, per-point
    segment ids (``instances``; every surface has one, stuff included) and six cameras in
    :data:`CAMERA_NAMES` order, each with its instance mask (same id space, 0 = sky).
    """

    frame: Frame
    index: int  # frame number within the scene, from 0
    T_ego_cam: tuple[np.ndarray, ...]  # per camera, optical frame (x right, y down, z fwd) -> ego
    T_world_ego_cam: tuple[np.ndarray, ...]  # per camera, ego -> world at the camera's stamp
    boxes: tuple[SynthBox, ...] = ()


@dataclass(frozen=True, eq=False)
class SynthScene:
    """One drive of consecutive frames through one procedural town."""

    name: str
    frames: tuple[SynthFrame, ...]
    description: str = ""
