"""Overlays project labelled points where the camera geometry puts them, from TF or parameters."""

from __future__ import annotations

import numpy as np
import pytest

from seal_ros.core import codec
from seal_ros.core.images import decode_image
from seal_ros.core.transforms import make_transform, quat_from_matrix
from seal_ros.node.core import SegmentationNode
from seal_ros.node.overlay import NoOverlay, NoOverlayReason, paint_points
from seal_ros.node.params import CameraParams, NodeParams

STAMP = 1_700_000_000_000_000_000
K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 24.0], [0.0, 0.0, 1.0]])
R_BASE_CAM = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # optical frame
T_BASE_LIDAR = make_transform(np.array([0.0, 0.0, 1.8]), np.array([0.0, 0.0, 0.0, 1.0]))
T_BASE_CAM = make_transform(np.array([0.5, 0.0, 1.5]), quat_from_matrix(R_BASE_CAM))


def _tf_message(h):
    T = h.STORE.types

    def stamped(child, M):
        q = quat_from_matrix(M[:3, :3])
        return T["geometry_msgs/msg/TransformStamped"](
            header=T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=1,
                                                                                  nanosec=0),
                                            frame_id="base_link"),
            child_frame_id=child, transform=T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=M[0, 3], y=M[1, 3], z=M[2, 3]),
                rotation=T["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3])))

    return T["tf2_msgs/msg/TFMessage"](transforms=[stamped("lidar_top", T_BASE_LIDAR),
                                                   stamped("cam_front_optical", T_BASE_CAM)])


def _camera_messages(h, stamp_ns=STAMP, encoding="bgr8"):
    T = h.STORE.types
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](
        sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="cam_front_optical")
    image = T["sensor_msgs/msg/Image"](header=header, height=48, width=64, encoding=encoding,
                                       is_bigendian=0, step=64 * 3,
                                       data=np.zeros(48 * 64 * 3, dtype=np.uint8))
    info = T["sensor_msgs/msg/CameraInfo"](
        header=header, height=48, width=64, distortion_model="plumb_bob", d=np.zeros(5),
        k=K.reshape(-1), r=np.eye(3).reshape(-1), p=np.zeros(12), binning_x=0, binning_y=0,
        roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                  do_rectify=False))
    return image, info


def _scene(h):
    """Two points in front of the camera at known pixels, 200 behind it (never painted)."""
    rng = np.random.default_rng(0)
    behind = np.stack([rng.uniform(-30, -5, 200), rng.uniform(-5, 5, 200),
                       rng.uniform(-1, 1, 200)], 1)
    xyz = np.concatenate([[[10.0, 0.0, 0.0], [10.0, 2.0, 0.0]], behind]).astype(np.float32)
    # lidar (10, 0, 0) -> camera (0, -0.3, 9.5): u = 32, v = 24 - 30 / 9.5 = 20.84 -> (21, 32)
    # lidar (10, 2, 0) -> camera (-2, -0.3, 9.5): u = 32 - 200 / 9.5 = 10.95 -> (21, 11)
    expected_pixels = [(21, 32), (21, 11)]
    msg = h.cloud_message({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                           "intensity": rng.random(len(xyz), dtype=np.float32)}, stamp_ns=STAMP)
    return msg, expected_pixels


@pytest.mark.parametrize("source", ["tf_static", "parameter"])
def test_overlay_paints_points_at_their_pixels(h, package, pipeline, source):
    extrinsics = {}
    if source == "parameter":
        T_cam_lidar = np.linalg.inv(T_BASE_CAM) @ T_BASE_LIDAR
        extrinsics = {"cam_front": T_cam_lidar.reshape(-1).tolist()}
    params = NodeParams(engine="gather", cameras=CameraParams(
        names=("cam_front",), extrinsics=extrinsics, point_radius_px=0))
    io = h.RecordingIO(subscribed={"~/output/cam_front/overlay", "~/output/segmentation"})
    node = SegmentationNode(io, params, package=package, pipeline=pipeline)
    image, info = _camera_messages(h, STAMP + 20_000_000)  # camera fired 20 ms later
    node.on_image("cam_front", image)
    node.on_camera_info("cam_front", info)
    if source == "tf_static":
        node.on_tf(_tf_message(h), static=True)
    msg, pixels = _scene(h)
    node.on_cloud(msg)
    node.spin_once()
    (overlay,) = io.on("~/output/cam_front/overlay")
    (seg,) = io.on("~/output/segmentation")
    classes = codec.decode(seg)["class_id"]
    rgb = decode_image(overlay, "overlay")
    assert overlay.encoding == "rgb8" and overlay.header.frame_id == "cam_front_optical"
    expected = np.zeros((48, 64, 3), dtype=np.uint8)
    palette = np.asarray(package.palette, dtype=np.uint8)
    for i, (row, col) in enumerate(pixels):
        expected[row, col] = palette[classes[i]]
    assert expected.any()
    np.testing.assert_array_equal(rgb, expected)


def test_stale_or_missing_camera_data_gives_no_overlay(h, package, pipeline):
    params = NodeParams(engine="gather", cameras=CameraParams(names=("cam_front",),
                                                              max_delay_ms=100))
    io = h.RecordingIO()
    node = SegmentationNode(io, params, package=package, pipeline=pipeline)
    msg, _ = _scene(h)
    node.on_cloud(msg)
    node.spin_once()  # no image yet: no overlay, the clouds still go out
    assert io.on("~/output/cam_front/overlay") == [] and io.on("~/output/segmentation")
    image, info = _camera_messages(h, STAMP - 300_000_000)  # 300 ms old
    node.on_image("cam_front", image)
    node.on_camera_info("cam_front", info)
    node.on_tf(_tf_message(h), static=True)
    node.on_cloud(msg)
    node.spin_once()
    assert io.on("~/output/cam_front/overlay") == []
    with pytest.raises(NoOverlay, match="^image is 300 ms from the cloud") as late:
        node.overlays.render("cam_front", np.zeros((1, 3)), np.zeros((1, 3), np.uint8),
                             STAMP, "lidar_top")
    assert late.value.reason == NoOverlayReason.IMAGE_DELAY
    with pytest.raises(NoOverlay, match="^no transform 'radar' -> 'cam_front_optical': set "
                       "cameras.extrinsics.cam_front or publish it on /tf_static") as no_tf:
        node.overlays.render("cam_front", np.zeros((1, 3)), np.zeros((1, 3), np.uint8),
                             STAMP - 300_000_000, "radar")
    assert no_tf.value.reason == NoOverlayReason.NO_TRANSFORM


def test_nearest_point_wins_and_discs_have_the_radius():
    image = np.zeros((20, 20, 3), dtype=np.uint8)
    row, col = np.array([10, 10, 3]), np.array([10, 10, 3])
    depth = np.array([9.0, 4.0, 5.0])
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    paint_points(image, row, col, depth, colours, radius_px=2)
    assert (image[10, 10] == [0, 255, 0]).all()  # depth 4 beats depth 9
    assert int((image == [0, 255, 0]).all(axis=2).sum()) == 13  # disc of radius 2
    assert int((image == [255, 0, 0]).all(axis=2).sum()) == 0
    assert int((image == [0, 0, 255]).all(axis=2).sum()) == 13
