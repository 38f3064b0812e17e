"""One projection for both sides: the node's overlays paint exactly the training pairs' pixels."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from seal_ros.core.projection import MIN_DEPTH_M, project_points
from seal_ros.core.transforms import TransformTree
from seal_ros.node import overlay
from seal_ros.node.params import CameraParams
from seal_train.sources.frame import project
from seal_train.synth import SynthConfig, generate_scene

K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])
T_CAM_LIDAR = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0],
                        [0.0, 0.0, 0.0, 1.0]])  # x forward, z up -> optical x right, y down


def test_rules_dtypes_and_non_finite_points():
    xyz = np.array([[10.0, 0.0, 0.0], [np.nan, 0.0, 0.0], [MIN_DEPTH_M, 0.0, 0.0],
                    [np.inf, 0.0, 0.0], [10.0, -2.0, 1.0], [-10.0, 0.0, 0.0]], dtype=np.float32)
    with np.errstate(all="raise"):  # non-finite points are dropped without a warning
        index, row, col, depth = project_points(xyz, K, T_CAM_LIDAR, 48, 64)
    assert index.tolist() == [0, 4] and row.tolist() == [24, 14] and col.tolist() == [32, 52]
    assert [a.dtype for a in (index, row, col, depth)] == [np.int64] * 3 + [np.float32]
    np.testing.assert_array_equal(depth, [10.0, 10.0])
    with pytest.raises(ValueError, match=r"K \(3, 3\).*got \(6, 3\), \(9,\)"):
        project_points(xyz, K.reshape(-1), T_CAM_LIDAR, 48, 64)


def _stamp(ns: int) -> SimpleNamespace:
    return SimpleNamespace(sec=ns // 10**9, nanosec=ns % 10**9)


def _messages(cam) -> tuple[SimpleNamespace, SimpleNamespace]:
    """The camera view as the node receives it: a bgr8 Image and its CameraInfo."""
    header = SimpleNamespace(stamp=_stamp(cam.stamp_ns), frame_id=f"{cam.name.lower()}_optical")
    bgr = np.ascontiguousarray(cam.image[:, :, ::-1])
    image = SimpleNamespace(header=header, height=cam.height, width=cam.width, encoding="bgr8",
                            is_bigendian=0, step=cam.width * 3, data=bgr.reshape(-1))
    info = SimpleNamespace(header=header, k=cam.K.reshape(-1).copy())
    return image, info


def test_node_overlay_paints_exactly_the_training_pairs(monkeypatch):
    config = SynthConfig(scenes=1, frames=1, image_width=128, image_height=72,
                         lidar_azimuth_steps=512)
    frame = generate_scene(config, 0).frames[0].frame
    pairs = project(frame)
    n = len(frame.points)
    ids = np.arange(n, dtype=np.int64)  # colour = point index, 24 bits
    colours = np.stack([(ids >> 16) & 255, (ids >> 8) & 255, ids & 255], 1).astype(np.uint8)

    painted: list[tuple[np.ndarray, ...]] = []

    def recording_paint(image, row, col, depth, cols, radius_px=2):
        index = cols.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])  # colour -> point
        painted.append((index, row, col, depth))
        return real_paint(image, row, col, depth, cols, radius_px)

    real_paint = overlay.paint_points
    monkeypatch.setattr(overlay, "paint_points", recording_paint)
    names = tuple(cam.name for cam in frame.cameras)
    params = CameraParams(names=names, max_delay_ms=1e6, point_radius_px=0,
                          extrinsics={cam.name: cam.T_cam_lidar.reshape(-1).tolist()
                                      for cam in frame.cameras})
    overlays = overlay.CameraOverlays(params, TransformTree())
    for c, cam in enumerate(frame.cameras):
        image, info = _messages(cam)
        overlays.on_image(cam.name, image)
        overlays.on_camera_info(cam.name, info)
        rendered = overlays.render(cam.name, frame.xyz, colours, frame.stamp_ns, "lidar_top")
        index, row, col, depth = painted[-1]
        mine = pairs.camera_index == c
        assert mine.sum() > 100  # every camera sees part of the scan
        np.testing.assert_array_equal(index, pairs.point_index[mine])
        np.testing.assert_array_equal(row, pairs.row[mine])
        np.testing.assert_array_equal(col, pairs.col[mine])
        np.testing.assert_array_equal(depth, pairs.depth[mine])
        assert depth.dtype == pairs.depth.dtype
        # and the picture is the camera image with the nearest training pair on each pixel
        want = real_paint(cam.image.copy(), pairs.row[mine], pairs.col[mine], pairs.depth[mine],
                          colours[pairs.point_index[mine]], 0)
        np.testing.assert_array_equal(rendered.rgb, want)
    assert len(painted) == len(frame.cameras) == 6
