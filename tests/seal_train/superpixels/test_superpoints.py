"""Superpoints: per-point and per-pair keys against point-by-point references, the clean-up of
depth discontinuities against a loop, and its use in pretraining views and configs."""

from __future__ import annotations

import numpy as np
import pytest

from seal_ros.errors import ConfigError
from seal_train.config import load_config
from seal_train.engine.pretrain_config import PretrainConfig
from seal_train.pairing.dataset import frame_view
from seal_train.sources import CameraView, Frame
from seal_train.sources.frame import project
from seal_train.superpixels import NO_SEGMENT, SuperpixelStore
from seal_train.superpixels.preview import UNPAIRED_COLOR, segment_colors, superpoint_colors
from seal_train.superpixels.superpoints import (
    CAMERA_STRIDE,
    NO_SUPERPOINT,
    SuperpointCleanup,
    clean_superpoints,
    pair_superpoints,
    superpoints,
)

K = np.array([[20.0, 0, 20], [0, 20, 15], [0, 0, 1]])  # 40 x 30 images
TURN = np.array([[0.0, 0, 1, 0], [0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1]])  # 90 deg about y


def _camera(index: int, T: np.ndarray) -> CameraView:
    return CameraView(f"CAM_{index}", f"s/0/CAM_{index}", np.full((30, 40, 3), 100, np.uint8), K,
                      T, 0)


def _frame(xyz: np.ndarray, *transforms: np.ndarray) -> Frame:
    cams = tuple(_camera(i, T) for i, T in enumerate(transforms))
    return Frame("s/0", "s", xyz.astype(np.float32), ("x", "y", "z"), 0, np.eye(4), np.eye(4),
                 cams)


def _two_cameras_frame(rng: np.random.Generator) -> Frame:
    """Points all around; camera 0 looks ahead, camera 1 a quarter turn away."""
    return _frame(rng.uniform(-30, 30, (4000, 3)), np.eye(4), TURN)


def _reference_superpoints(frame, maps):
    """Point by point: the first camera whose pixel under the point holds a segment (pixel
    centres at integer coordinates, depth > 1 m, as :func:`project_points` documents)."""
    labels = []
    for x in frame.xyz.astype(np.float64):
        label = NO_SUPERPOINT
        for c, (cam, seg) in enumerate(zip(frame.cameras, maps, strict=True)):
            p = cam.T_cam_lidar[:3, :3] @ x + cam.T_cam_lidar[:3, 3]
            if p[2] <= 1.0:
                continue
            u, v = (cam.K @ (p / p[2]))[:2]
            row, col = int(np.floor(v + 0.5)), int(np.floor(u + 0.5))
            if 0 <= row < cam.height and 0 <= col < cam.width and seg[row, col] != NO_SEGMENT:
                label = c * 65536 + int(seg[row, col])
                break
        labels.append(label)
    return np.array(labels)


def test_superpoints_take_the_first_camera_with_a_segment():
    rng = np.random.default_rng(0)
    frame = _two_cameras_frame(rng)
    first = rng.integers(0, 5, (30, 40)).astype(np.uint16)
    first[:, :20] = NO_SEGMENT  # the left half of camera 0 has no segment: camera 1 may fill it
    second = rng.integers(0, 400, (30, 40)).astype(np.uint16)
    labels = superpoints(frame, [first, second])
    np.testing.assert_array_equal(labels, _reference_superpoints(frame, [first, second]))
    from_first, from_second = (labels >= 0) & (labels < 65536), labels >= 65536
    assert from_first.sum() > 50 and from_second.sum() > 50 and (labels == -1).sum() > 50
    np.testing.assert_array_equal(superpoints(frame, [None, second])[from_second],
                                  labels[from_second])
    colors = superpoint_colors(labels)
    assert (colors[labels == NO_SUPERPOINT] == UNPAIRED_COLOR).all()
    np.testing.assert_array_equal(colors[from_second], segment_colors(labels[from_second]))


def _reference_clean(keys, depth, gap, min_points):
    """Key by key: np.median of its depths, then the count of what is left."""
    keys = keys.copy()
    for key in np.unique(keys[keys != NO_SUPERPOINT]):
        mine = np.flatnonzero(keys == key)
        if gap > 0:
            far = np.abs(depth[mine] - np.median(depth[mine])) > gap
            keys[mine[far]] = NO_SUPERPOINT
            mine = mine[~far]
        if len(mine) < min_points:
            keys[mine] = NO_SUPERPOINT
    return keys


@pytest.mark.parametrize(("gap", "min_points"), [(0.0, 0), (1.5, 0), (0.0, 6), (1.0, 4)])
def test_clean_superpoints_equals_a_loop(gap, min_points):
    rng = np.random.default_rng(3)
    keys = rng.integers(-1, 40, 3000)
    keys[:200] = rng.integers(100, 160, 200)  # small segments of about 3 points
    depth = rng.uniform(1, 30, 3000).astype(np.float32)
    depth[keys % 3 == 0] = rng.normal(10, 1, (keys % 3 == 0).sum())  # some tight segments
    cleanup = SuperpointCleanup(max_depth_gap_m=gap, min_points=min_points)
    cleaned = clean_superpoints(keys, depth, cleanup)
    np.testing.assert_array_equal(cleaned, _reference_clean(keys, depth, gap, min_points))
    if cleanup.active:
        assert (cleaned == NO_SUPERPOINT).sum() > (keys == NO_SUPERPOINT).sum()
    else:
        np.testing.assert_array_equal(cleaned, keys)


def _box_before_wall():
    """A 2 m box 5 m ahead of the camera and a wall at 20 m; the box's segment is drawn 2 px too
    large, as a mask edge or the LiDAR-camera parallax leaves it, so wall points fall in it."""
    rng = np.random.default_rng(0)
    box = np.c_[rng.uniform(-1, 1, (3000, 2)), np.full(3000, 5.0)]
    wall = np.c_[rng.uniform(-20, 20, 6000), rng.uniform(-15, 15, 6000), np.full(6000, 20.0)]
    frame = _frame(np.r_[box, wall], np.eye(4))
    segments = np.ones((30, 40), np.uint16)  # segment 1: the wall
    segments[9:22, 14:27] = 0  # the box covers rows/cols 11..19 and 16..24
    return frame, segments, np.r_[np.ones(3000, bool), np.zeros(6000, bool)]


def test_depth_gap_takes_wall_points_out_of_the_box_segment():
    frame, segments, on_box = _box_before_wall()
    plain = superpoints(frame, [segments])
    assert (plain[~on_box] == 0).sum() > 30  # the wall leaks into the box's superpoint
    assert (plain[on_box] == 0).all()
    cleaned = superpoints(frame, [segments], SuperpointCleanup(max_depth_gap_m=2.0))
    assert (cleaned[on_box] == 0).all()  # the box keeps every point
    assert not (cleaned[~on_box] == 0).any()  # and no wall point
    leaked = (plain == 0) & ~on_box
    assert (cleaned[leaked] == NO_SUPERPOINT).all()  # dropped, not moved to another segment
    np.testing.assert_array_equal(cleaned[~leaked], plain[~leaked])


def test_min_points_drops_small_segments_per_camera():
    frame, segments, _ = _box_before_wall()
    segments[0, 0] = 7  # a one-pixel segment: one or two points at most
    pairs = project(frame)
    keys = pair_superpoints(pairs, [segments])
    assert 0 < (keys == 7).sum() < 5
    kept = pair_superpoints(pairs, [segments], SuperpointCleanup(min_points=5))
    assert not (kept == 7).any() and (kept == 0).sum() == (keys == 0).sum()
    assert pair_superpoints(pairs, [None]).max() == NO_SUPERPOINT


def test_cleanup_values_are_checked():
    for bad in ({"max_depth_gap_m": -1.0}, {"max_depth_gap_m": float("nan")},
                {"min_points": -2}):
        with pytest.raises(ConfigError, match="superpoint"):
            SuperpointCleanup(**bad)
    with pytest.raises(ValueError, match="2 segment maps for 1 cameras"):
        superpoints(_box_before_wall()[0], [None, None])


def test_pretraining_view_loses_exactly_the_cleaned_pairs(tmp_path):
    frame, segments, on_box = _box_before_wall()
    store = SuperpixelStore(tmp_path / "sp")
    store.write(frame.cameras[0].image_id, segments)
    plain = frame_view(frame, store, ())
    cleanup = SuperpointCleanup(max_depth_gap_m=2.0)
    cleaned = frame_view(frame, store, (), cleanup)
    pairs = project(frame)
    np.testing.assert_array_equal(plain.pair_point, pairs.point_index)  # default: every pair
    keys = pair_superpoints(pairs, [segments], cleanup)
    expected = pairs.point_index[keys != NO_SUPERPOINT]  # every pixel here has a segment
    np.testing.assert_array_equal(cleaned.pair_point, expected)
    assert on_box[cleaned.pair_point[cleaned.superpixels[0][cleaned.pair_row,
                                                            cleaned.pair_col] == 0]].all()


def test_pretrain_config_takes_the_cleanup_as_overrides():
    cfg = load_config(PretrainConfig, overrides=["pairing.superpoints.max_depth_gap_m=1.5",
                                                 "pairing.superpoints.min_points=4"])
    assert cfg.pairing.superpoints == SuperpointCleanup(max_depth_gap_m=1.5, min_points=4)
    assert not load_config(PretrainConfig).pairing.superpoints.active
    with pytest.raises(ConfigError, match="max_depth_gap_m"):
        load_config(PretrainConfig, overrides=["pairing.superpoints.max_depth_gap_m=-1"])


def test_keys_are_camera_major():
    frame = _frame(np.random.default_rng(1).uniform(-30, 30, (3000, 3)), np.eye(4), TURN)
    maps = [np.full((30, 40), 3, np.uint16), np.full((30, 40), NO_SEGMENT, np.uint16)]
    maps[1][:, :20] = 5
    labels = superpoints(frame, maps)
    assert set(np.unique(labels)) <= {NO_SUPERPOINT, 3, CAMERA_STRIDE + 5}
