"""Frame validation and the point -> pixel projection against a hand-computed pinhole."""

from __future__ import annotations

import numpy as np
import pytest

from seal_ros.errors import DatasetError
from seal_ros.labels import LabelMap
from seal_train.sources import CameraView, Frame, project

K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]])
# LiDAR x forward, y left, z up -> camera optical x right, y down, z forward.
T_CAM_LIDAR = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                        [0.0, 0.0, 0.0, 1.0]])


def _camera(name="CAM_FRONT", **kw):
    args = dict(name=name, image_id=f"img/{name}", image=np.zeros((80, 100, 3), np.uint8), K=K,
                T_cam_lidar=T_CAM_LIDAR, stamp_ns=5)
    args.update(kw)
    return CameraView(**args)


def _frame(points, cameras=(), **kw):
    args = dict(frame_id="f0", sequence="s0", points=np.asarray(points, np.float32),
                channels=("x", "y", "z", "intensity"), stamp_ns=5, T_ego_lidar=np.eye(4),
                T_world_ego=np.eye(4), cameras=cameras)
    args.update(kw)
    return Frame(**args)


def test_projection_matches_pinhole_and_rules():
    points = [
        [10.0, 0.0, 0.0, 1.0],    # optical axis -> (u, v) = (50, 40)
        [10.0, -2.0, 1.0, 1.0],   # u = 50 + 100 * 2 / 10 = 70, v = 40 - 100 * 1 / 10 = 30
        [0.5, 0.0, 0.0, 1.0],     # depth 0.5 m <= 1 m: dropped
        [-10.0, 0.0, 0.0, 1.0],   # behind the camera: dropped
        [10.0, -5.04, 0.0, 1.0],  # u = 100.4 -> col 100 = outside a 100-wide image
        [10.0, 0.504, 0.0, 1.0],  # u = 44.96 -> col 45
    ]
    frame = _frame(points, cameras=(_camera(),))
    pairs = project(frame)
    assert pairs.point_index.tolist() == [0, 1, 5]
    assert pairs.col.tolist() == [50, 70, 45]
    assert pairs.row.tolist() == [40, 30, 40]
    np.testing.assert_allclose(pairs.depth, [10.0, 10.0, 10.0])


def test_point_seen_by_two_cameras_gives_two_pairs():
    frame = _frame([[10.0, 0.0, 0.0, 0.0]], cameras=(_camera("A"), _camera("B")))
    pairs = project(frame)
    assert pairs.point_index.tolist() == [0, 0]
    assert pairs.camera_index.tolist() == [0, 1]


def test_frame_rejects_bad_input_with_names():
    with pytest.raises(DatasetError, match="frame f0: 1 of 2 points have NaN/inf"):
        _frame([[0, 0, 0, 0], [np.nan, 0, 0, 0]])
    with pytest.raises(DatasetError, match="labels has 3 entries for 2 points"):
        _frame(np.zeros((2, 4)), labels=np.zeros(3, np.uint32),
               label_map=LabelMap.builtin("nuscenes"))
    with pytest.raises(DatasetError, match="channels"):
        _frame(np.zeros((2, 4)), channels=("x", "y", "intensity", "z"))
    with pytest.raises(DatasetError, match="camera CAM_FRONT .*image must be"):
        _camera(image=np.zeros((80, 100), np.uint8))
    with pytest.raises(DatasetError, match="T_world_ego must be a finite 4x4"):
        _frame(np.zeros((2, 4)), T_world_ego=np.eye(3))


def test_sensor_to_world_composes_poses():
    T_ego_lidar = np.eye(4)
    T_ego_lidar[:3, 3] = [1.0, 0.0, 1.8]
    T_world_ego = np.eye(4)
    T_world_ego[:3, 3] = [100.0, 5.0, 0.0]
    frame = _frame(np.zeros((1, 4)), T_ego_lidar=T_ego_lidar, T_world_ego=T_world_ego)
    np.testing.assert_allclose(frame.T_world_lidar[:3, 3], [101.0, 5.0, 1.8])
