"""The TF tree: static chains (the node), stamped edges interpolated (bags), refused edges."""

from __future__ import annotations

import numpy as np
import pytest

from seal_ros.core.transforms import (
    TransformTree,
    invert_rigid,
    make_transform,
    matrix_from_quat,
    quat_from_matrix,
    rigid,
    slerp,
)
from seal_ros.errors import SealError, TransformError

R_BASE_CAM = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # optical frame
T_BASE_LIDAR = make_transform(np.array([0.0, 0.0, 1.8]), np.array([0.0, 0.0, 0.0, 1.0]))
T_BASE_CAM = make_transform(np.array([0.5, 0.0, 1.5]), quat_from_matrix(R_BASE_CAM))
IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])


def _add(tree, parent, child, T, stamp_ns=0, static=True):
    tree.add(parent, child, stamp_ns, T[:3, 3], quat_from_matrix(T[:3, :3]), static=static)


def test_static_lookups_compose_like_the_node_needs():
    np.testing.assert_allclose(matrix_from_quat(quat_from_matrix(R_BASE_CAM)), R_BASE_CAM,
                               atol=1e-12)
    tree = TransformTree()
    _add(tree, "base_link", "lidar_top", T_BASE_LIDAR)
    _add(tree, "/base_link", "cam_front_optical", T_BASE_CAM)
    _add(tree, "map", "base_link", make_transform(np.array([100.0, 5.0, 0.0]),
                                                  np.array([0.0, 0.0, 0.38268343, 0.92387953])))
    T = tree.lookup("cam_front_optical", "lidar_top")
    np.testing.assert_allclose(T, np.linalg.inv(T_BASE_CAM) @ T_BASE_LIDAR, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("lidar_top", "lidar_top"), np.eye(4))
    with pytest.raises(TransformError, match="frame 'radar' is in no /tf") as err:
        tree.lookup("cam_front_optical", "radar")
    assert err.value.reason == "tf_missing_link" and isinstance(err.value, SealError)
    _add(tree, "base_link", "lidar_top", rigid(np.eye(3), (0.0, 0.0, 2.0)))  # newest replaces
    assert tree.lookup("base_link", "lidar_top")[2, 3] == 2.0 and len(tree) == 3
    with pytest.raises(ValueError, match="no direction"):
        matrix_from_quat((0.0, 0.0, 0.0, 0.0))


def test_stamped_edges_interpolate_and_never_extrapolate():
    tree = TransformTree("bag")
    _add(tree, "base_link", "lidar", T_BASE_LIDAR)
    yaw = np.array([0.0, 0.0, np.sin(0.5), np.cos(0.5)])  # 1 rad about z
    tree.add("map", "base_link", 100, np.zeros(3), IDENTITY)
    tree.add("map", "base_link", 200, np.array([10.0, 0.0, 0.0]), yaw)
    T = tree.lookup("map", "lidar", 130)
    np.testing.assert_allclose(T[:3, 3], [3.0, 0.0, 0.0] + (T[:3, :3] @ T_BASE_LIDAR[:3, 3]),
                               atol=1e-12)
    assert np.arctan2(T[1, 0], T[0, 0]) == pytest.approx(0.3, abs=1e-12)
    np.testing.assert_allclose(slerp(IDENTITY, yaw, 0.3), [0, 0, np.sin(0.15), np.cos(0.15)])
    with pytest.raises(TransformError, match="known from 100 to 200 ns .* stamp 201 ns") as err:
        tree.lookup("map", "lidar", 201)
    assert err.value.reason == "tf_out_of_range"
    with pytest.raises(TransformError, match="varies in time") as err:
        tree.lookup("map", "lidar")
    assert err.value.reason == "tf_needs_stamp"
    np.testing.assert_allclose(tree.lookup("lidar", "base_link"), invert_rigid(T_BASE_LIDAR))


@pytest.mark.parametrize("edge, message", [
    (("odom", "base_link", False), "frame 'base_link' has two parents"),
    (("lidar", "map", True), "would close a cycle"),
    (("lidar", "lidar", True), "from 'lidar' to itself"),
    (("base_link", "lidar", False), "frame 'lidar' is in both /tf_static and /tf"),
])
def test_edges_that_break_the_tree_are_refused(edge, message):
    tree = TransformTree("bag")
    _add(tree, "base_link", "lidar", T_BASE_LIDAR)
    tree.add("map", "base_link", 0, np.zeros(3), IDENTITY)
    parent, child, static = edge
    with pytest.raises(TransformError, match=f"bag: .*{message}") as err:
        tree.add(parent, child, 5, np.zeros(3), IDENTITY, static=static)
    assert err.value.reason == "tf_bad_edge"
    with pytest.raises(TransformError, match="not finite"):
        tree.add("base_link", "cam", 0, np.array([np.nan, 0, 0]), IDENTITY)
