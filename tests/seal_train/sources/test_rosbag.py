"""RosbagSource reads back what write_rosbag writes (MCAP, sqlite3), ROS 1 bags, and bad input."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from seal_ros.core.codec import PointFieldType, encode
from seal_ros.core.transforms import TransformTree, make_transform, quat_from_matrix, rigid
from seal_ros.core.transforms import invert_rigid as invert
from seal_ros.errors import BagError, CodecError, DatasetError, TransformError
from seal_ros.labels import LabelMap
from seal_train.sources.frame import CameraView, Frame
from seal_train.sources.rosbag import RosbagSource
from seal_train.synth.record import SynthFrame, SynthScene
from seal_train.synth.rosbag_writer import write_rosbag

T0 = 1_700_000_000_123_456_789
PERIOD_NS = 100_000_000
CAM_OFFSETS_NS = (8_000_000, -17_000_000)
CAMS = ("CAM_FRONT", "CAM_BACK")
H, W = 24, 32


def rot(axis: str, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


def ego_pose(stamp_ns: int) -> np.ndarray:
    """Ego drives forward at 8 m/s while turning at 0.3 rad/s, slight pitch."""
    s = (stamp_ns - T0) / 1e9
    return rigid(rot("z", 0.2 + 0.3 * s) @ rot("y", 0.01 * s), (100 + 8 * s, -20 + 1.5 * s, 0.3))


OPTICAL = rot("x", -np.pi / 2) @ rot("z", -np.pi / 2)  # camera z forward = ego x
T_EGO_LIDAR = rigid(rot("z", -np.pi / 2 + 0.02) @ rot("x", 0.01), (0.94, 0.0, 1.84))
T_EGO_CAM = (rigid(rot("z", 0.0) @ OPTICAL, (1.7, 0.0, 1.5)),
             rigid(rot("z", np.pi) @ OPTICAL @ rot("y", 0.05), (-1.0, 0.05, 1.55)))
K = (np.array([[30.0, 0, 15.5], [0, 31.0, 11.5], [0, 0, 1]]),
     np.array([[25.0, 0, 16.0], [0, 25.5, 12.0], [0, 0, 1]]))


def make_scene(name: str = "scene-0000", frames: int = 3, seed: int = 0,
               n_points: int = 500, mask_frames: tuple[int, ...] | None = None) -> SynthScene:
    rng = np.random.default_rng(seed)
    label_map = LabelMap.builtin("nuscenes")
    out = []
    for k in range(frames):
        stamp = T0 + k * PERIOD_NS
        points = np.concatenate([rng.uniform(-40, 40, (n_points, 3)),
                                 rng.uniform(0, 255, (n_points, 1)),
                                 rng.integers(0, 32, (n_points, 1))], axis=1).astype(np.float32)
        views, poses = [], []
        for c, cam in enumerate(CAMS):
            cam_stamp = stamp + CAM_OFFSETS_NS[c]
            T_world_ego_cam = ego_pose(cam_stamp)
            T_cam_lidar = (invert(T_EGO_CAM[c]) @ invert(T_world_ego_cam) @ ego_pose(stamp)
                           @ T_EGO_LIDAR)
            mask = rng.integers(0, 2**16, (H, W), dtype=np.uint16)
            if c != 0 or (mask_frames is not None and k not in mask_frames):
                mask = None
            views.append(CameraView(cam, f"{name}/{cam}/{k}",
                                    rng.integers(0, 256, (H, W, 3), dtype=np.uint8), K[c],
                                    T_cam_lidar, cam_stamp, mask))
            poses.append(T_world_ego_cam)
        frame = Frame(f"{name}/{k}", name, points, ("x", "y", "z", "intensity", "ring"), stamp,
                      T_EGO_LIDAR, ego_pose(stamp), tuple(views),
                      labels=rng.integers(0, 32, n_points).astype(np.uint32), label_map=label_map,
                      instances=rng.integers(0, 2**31, n_points).astype(np.uint32))
        out.append(SynthFrame(frame, k, T_EGO_CAM, tuple(poses)))
    return SynthScene(name, tuple(out))


@pytest.fixture(scope="module")
def scene() -> SynthScene:
    return make_scene()


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def bag(request: pytest.FixtureRequest, scene: SynthScene,
        tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp(f"bags_{request.param}")
    paths = write_rosbag([scene], root, storage=request.param)
    assert paths == [root / scene.name]
    return paths[0]


def test_rosbags_lists_topics(bag: Path) -> None:
    with AnyReader([bag]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert topics == {"/tf_static": "tf2_msgs/msg/TFMessage", "/tf": "tf2_msgs/msg/TFMessage",
                      "/lidar_top/points": "sensor_msgs/msg/PointCloud2",
                      "/cam_front/image_raw": "sensor_msgs/msg/Image",
                      "/cam_front/camera_info": "sensor_msgs/msg/CameraInfo",
                      "/cam_front/instance_mask": "sensor_msgs/msg/Image",
                      "/cam_back/image_raw": "sensor_msgs/msg/Image",
                      "/cam_back/camera_info": "sensor_msgs/msg/CameraInfo"}
    assert counts["/lidar_top/points"] == 3 and counts["/cam_back/image_raw"] == 3
    assert counts["/tf_static"] == 1 and counts["/tf"] == 9  # lidar + 2 camera stamps per frame


def test_round_trip(bag: Path, scene: SynthScene) -> None:
    source = RosbagSource(bag, label_field="label", label_map="nuscenes")
    assert len(source) == 3
    assert source.lidar_topic == ["/lidar_top/points"]
    assert [c.name for c in source.cameras[0]] == ["cam_back", "cam_front"]
    frames = list(source)
    assert source.skipped == {}
    for got, sf in zip(frames, scene.frames, strict=True):
        want = sf.frame
        assert got.frame_id == f"/lidar_top/points/{want.stamp_ns}"
        assert got.sequence == scene.name and got.stamp_ns == want.stamp_ns
        assert got.channels == ("x", "y", "z", "intensity", "ring")
        np.testing.assert_array_equal(got.points, want.points)
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_array_equal(got.instances, want.instances)
        np.testing.assert_allclose(got.T_world_ego, want.T_world_ego, atol=1e-6)
        np.testing.assert_allclose(got.T_ego_lidar, want.T_ego_lidar, atol=1e-6)
        views = {v.name: v for v in got.cameras}
        for want_view in want.cameras:
            view = views[want_view.name.lower()]
            assert view.stamp_ns == want_view.stamp_ns
            assert view.image_id == f"/{want_view.name.lower()}/image_raw/{want_view.stamp_ns}"
            np.testing.assert_array_equal(view.image, want_view.image)
            if want_view.instance_mask is None:
                assert view.instance_mask is None
            else:
                np.testing.assert_array_equal(view.instance_mask, want_view.instance_mask)
            np.testing.assert_array_equal(view.K, want_view.K)
            np.testing.assert_allclose(view.T_cam_lidar, want_view.T_cam_lidar, atol=1e-6)
    np.testing.assert_array_equal(source[1].points, scene.frames[1].frame.points)
    source.close()
    clone = pickle.loads(pickle.dumps(source))  # DataLoader workers: readers reopen lazily
    np.testing.assert_array_equal(clone[2].points, scene.frames[2].frame.points)
    clone.close()


def test_explicit_cameras_and_auto_world(bag: Path, scene: SynthScene) -> None:
    source = RosbagSource(bag, lidar_topic="/lidar_top/points", world_frame=None,
                          cameras={"CAM_FRONT": "/cam_front/image_raw"})
    frame = source[2]
    assert [v.name for v in frame.cameras] == ["CAM_FRONT"]
    assert frame.labels is None and frame.instances is not None
    np.testing.assert_allclose(frame.T_world_ego, scene.frames[2].frame.T_world_ego, atol=1e-6)


def test_folder_of_bags(tmp_path: Path) -> None:
    scenes = [make_scene("scene-0000", 2, seed=1), make_scene("scene-0001", 2, seed=2)]
    write_rosbag(scenes, tmp_path / "rosbag")
    with pytest.raises(BagError, match="exists; pass overwrite=True"):
        write_rosbag(scenes[:1], tmp_path / "rosbag")
    write_rosbag(scenes[:1], tmp_path / "rosbag", overwrite=True)
    source = RosbagSource(tmp_path / "rosbag", cameras={})
    assert [f.sequence for f in source] == ["scene-0000"] * 2 + ["scene-0001"] * 2
    np.testing.assert_array_equal(source[3].points, scenes[1].frames[1].frame.points)


# ------------------------------------------------------------------------------ bad input --

def test_missing_instance_mask_is_reported(tmp_path: Path) -> None:
    (bag,) = write_rosbag([make_scene(frames=3, mask_frames=(0, 2))], tmp_path)
    with pytest.raises(BagError, match=r"/cam_front/instance_mask has no mask stamped \d+ ns"):
        RosbagSource(bag)
    source = RosbagSource(bag, on_error="skip")
    assert len(source) == 2 and source.skipped == {"missing_instance_mask": 1}


def test_missing_topic_names_bag_topic_and_listing(bag: Path) -> None:
    listed = r"/cam_back/camera_info \(sensor_msgs/msg/CameraInfo\)"
    with pytest.raises(BagError, match=rf"no LiDAR topic '/velodyne_points'; topics are: .*{listed}"
                       ) as e:
        RosbagSource(bag, lidar_topic="/velodyne_points")
    assert str(bag) in str(e.value)
    with pytest.raises(BagError, match="camera front image topic '/front/image'"):
        RosbagSource(bag, cameras={"front": "/front/image"})
    with pytest.raises(BagError, match="LiDAR topic '/tf' is tf2_msgs/msg/TFMessage"):
        RosbagSource(bag, lidar_topic="/tf")


def test_missing_tf_link_names_frames(bag: Path) -> None:
    with pytest.raises(BagError, match="ego frame 'base_footprint' is in no /tf"):
        RosbagSource(bag, ego_frame="base_footprint")
    with pytest.raises(BagError, match="world frame 'odom' is in no /tf"):
        RosbagSource(bag, world_frame="odom")


def test_tight_tolerance_reports_missing_camera(bag: Path) -> None:
    with pytest.raises(BagError, match=r"/cam_back/image_raw has no image within 0.01 s .* "
                                       r"\(nearest -0.017 s\)"):
        RosbagSource(bag, pair_tolerance_s=0.01)
    source = RosbagSource(bag, pair_tolerance_s=0.01, on_error="skip")
    assert len(source) == 0 and source.skipped == {"missing_camera": 3}


def test_label_field_needs_map_and_must_exist(bag: Path) -> None:
    with pytest.raises(DatasetError, match="needs a label_map"):
        RosbagSource(bag, label_field="label")
    with pytest.raises(BagError, match="no label field 'semantic'"):
        RosbagSource(bag, label_field="semantic", label_map="nuscenes")


def _msg_builders(T: dict[str, Any], ros1: bool = False) -> tuple[
        Callable[[int, str], object], Callable[[str, str, int, np.ndarray], object]]:
    """``header(stamp, frame)`` and ``tf(parent, child, stamp, T_parent_child)`` of typestore ``T``.

    Hand-written bags need both for ROS 2 and ROS 1 alike; ROS 1 headers also carry ``seq``.
    """
    seq = {"seq": 0} if ros1 else {}

    def header(stamp: int, frame: str) -> object:
        return T["std_msgs/msg/Header"](**seq, stamp=T["builtin_interfaces/msg/Time"](
            sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=frame)

    def tf(parent: str, child: str, stamp: int, M: np.ndarray) -> object:
        q, t = quat_from_matrix(M[:3, :3]), M[:3, 3]
        return T["geometry_msgs/msg/TransformStamped"](
            header=header(stamp, parent), child_frame_id=child,
            transform=T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=t[0], y=t[1], z=t[2]),
                rotation=T["geometry_msgs/msg/Quaternion"](x=q[0], y=q[1], z=q[2], w=q[3])))

    return header, tf


def _write_custom(path: Path, clouds: list[tuple[int, object]], tfs: bool = True) -> Path:
    """A bag with one PointCloud2 topic 'lidar' frame, base_link and map TF, no cameras."""
    ts = get_typestore(Stores.ROS2_HUMBLE)
    T = ts.types
    header, tf = _msg_builders(T)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        ctf = writer.add_connection("/tf", "tf2_msgs/msg/TFMessage", typestore=ts)
        cst = writer.add_connection("/tf_static", "tf2_msgs/msg/TFMessage", typestore=ts)
        cpc = writer.add_connection("/points", "sensor_msgs/msg/PointCloud2", typestore=ts)
        writer.write(cst, T0, ts.serialize_cdr(T["tf2_msgs/msg/TFMessage"](
            transforms=[tf("base_link", "lidar", T0, T_EGO_LIDAR)]), "tf2_msgs/msg/TFMessage"))
        if tfs:
            for stamp in (T0, T0 + 10 * PERIOD_NS):
                writer.write(ctf, stamp, ts.serialize_cdr(T["tf2_msgs/msg/TFMessage"](
                    transforms=[tf("map", "base_link", stamp, ego_pose(stamp))]),
                    "tf2_msgs/msg/TFMessage"))
        for stamp, cloud in clouds:
            msg = cloud.to_message(T["sensor_msgs/msg/PointCloud2"],  # type: ignore[attr-defined]
                                   T["sensor_msgs/msg/PointField"], header(stamp, "lidar"))
            writer.write(cpc, stamp, ts.serialize_cdr(msg, "sensor_msgs/msg/PointCloud2"))
    return path


def _xyz_cloud(xyz: np.ndarray) -> object:
    return encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})


def test_truncated_cloud_is_bag_error_with_topic_and_stamp(tmp_path: Path) -> None:
    good = _xyz_cloud(np.ones((10, 3), dtype=np.float32))
    bad = _xyz_cloud(np.ones((10, 3), dtype=np.float32))
    object.__setattr__(bad, "data", bad.data[:-5])
    bag = _write_custom(tmp_path / "b", [(T0 + PERIOD_NS, good), (T0 + 2 * PERIOD_NS, bad)])
    with pytest.raises(BagError, match=rf"/points at stamp {T0 + 2 * PERIOD_NS} ns: data has 115 "
                                       r"bytes; expected height 1 x row_step 120") as e:
        RosbagSource(bag, cameras={})
    assert isinstance(e.value.__cause__, CodecError)
    source = RosbagSource(bag, cameras={}, on_error="skip")
    assert len(source) == 1 and source.skipped == {"bad_cloud": 1}
    # interpolated between the TF samples at T0 and T0 + 1 s (pose is close, not equal)
    np.testing.assert_allclose(source[0].T_world_ego, ego_pose(T0 + PERIOD_NS), atol=1e-3)


def test_tf_interpolation_and_out_of_range(tmp_path: Path) -> None:
    xyz = np.ones((4, 3), dtype=np.float32)
    stamps = [T0 + 3 * PERIOD_NS, T0 + 11 * PERIOD_NS]
    bag = _write_custom(tmp_path / "b", [(s, _xyz_cloud(xyz)) for s in stamps])
    with pytest.raises(BagError, match=rf"TF 'map' -> 'base_link' is known from {T0} to "
                                       rf"{T0 + 10 * PERIOD_NS} ns .* stamp {stamps[1]} ns is "
                                       r"outside"):
        RosbagSource(bag, cameras={})
    source = RosbagSource(bag, cameras={}, on_error="skip")
    assert source.skipped == {"tf_out_of_range": 1}
    # between samples at T0 and T0 + 1 s: translation linear, rotation slerped (yaw linear in t)
    got = source[0].T_world_ego
    a, b = ego_pose(T0), ego_pose(T0 + 10 * PERIOD_NS)
    np.testing.assert_allclose(got[:3, 3], 0.7 * a[:3, 3] + 0.3 * b[:3, 3], atol=1e-9)
    want_yaw = 0.2 + 0.3 * 0.3
    assert np.arctan2(got[1, 0], got[0, 0]) == pytest.approx(want_yaw, abs=1e-3)


def test_missing_tf_link_per_frame(tmp_path: Path) -> None:
    bag = _write_custom(tmp_path / "b", [(T0, _xyz_cloud(np.ones((4, 3), np.float32)))],
                        tfs=False)
    with pytest.raises(BagError, match="world frame 'map' is in no /tf"):
        RosbagSource(bag, cameras={})
    # base_link is only linked to the lidar: the root is base_link itself
    source = RosbagSource(bag, cameras={}, world_frame=None)
    np.testing.assert_allclose(source[0].T_world_ego, np.eye(4))


def test_nonfinite_points_raise_skip_or_drop(tmp_path: Path) -> None:
    xyz = np.arange(30, dtype=np.float32).reshape(10, 3)
    xyz[[2, 7], 1] = [np.nan, np.inf]
    bag = _write_custom(tmp_path / "b", [(T0 + PERIOD_NS, _xyz_cloud(xyz))])
    source = RosbagSource(bag, cameras={})
    with pytest.raises(BagError, match="2 of 10 points have NaN/inf coordinates"):
        source[0]
    skipping = RosbagSource(bag, cameras={}, on_error="skip")
    assert list(skipping) == [] and skipping.skipped == {"nonfinite_points": 1}
    dropping = RosbagSource(bag, cameras={}, drop_nonfinite=True)
    (frame,) = list(dropping)
    np.testing.assert_array_equal(frame.points, np.delete(xyz, [2, 7], axis=0))
    assert dropping.dropped_points == {"nonfinite": 2}


def test_ambiguous_lidar_topic(tmp_path: Path) -> None:
    ts = get_typestore(Stores.ROS2_HUMBLE)
    with Writer(tmp_path / "b", version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        for topic in ("/a/points", "/b/points"):
            writer.add_connection(topic, "sensor_msgs/msg/PointCloud2", typestore=ts)
        writer.add_connection("/tf", "tf2_msgs/msg/TFMessage", typestore=ts)
    with pytest.raises(BagError, match=r"several PointCloud2 topics \['/a/points', '/b/points'\]; "
                                       r"pass lidar_topic="):
        RosbagSource(tmp_path / "b")


def test_tf_tree_chains_static_frames() -> None:
    tree = TransformTree("t")
    A = rigid(rot("z", 0.3), (1.0, 2.0, 3.0))
    B = rigid(rot("x", -0.4), (0.1, 0.0, -0.5))
    for parent, child, M in (("base_link", "mount", A), ("mount", "lidar", B)):
        tree.add(parent, child, 0, M[:3, 3], quat_from_matrix(M[:3, :3]), static=True)
    tree.add("map", "base_link", 5, np.zeros(3), np.array([0, 0, 0, 1.0]))
    np.testing.assert_allclose(tree.lookup("base_link", "lidar", 0), A @ B, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("lidar", "mount", 0), invert(B), atol=1e-12)
    np.testing.assert_allclose(tree.lookup("map", "lidar", 5), A @ B, atol=1e-12)
    np.testing.assert_allclose(make_transform(A[:3, 3], quat_from_matrix(A[:3, :3])), A,
                               atol=1e-12)
    tree.add("odom", "other", 0, np.zeros(3), np.array([0, 0, 0, 1.0]), static=True)
    with pytest.raises(TransformError, match="no TF link between 'odom' and 'lidar'"):
        tree.lookup("odom", "lidar", 5)
    with pytest.raises(TransformError, match="frame 'base_link' has two parents"):
        tree.add("odom", "base_link", 6, np.zeros(3), np.array([0, 0, 0, 1.0]))


# -------------------------------------------------------------------------------- ROS 1 --

def test_ros1_bag(tmp_path: Path) -> None:
    from rosbags.rosbag1 import Writer as Writer1
    from rosbags.typesys import get_types_from_msg

    ts = get_typestore(Stores.ROS1_NOETIC)  # lacks tf2_msgs: register it as a ROS 1 driver would
    ts.register(get_types_from_msg("geometry_msgs/TransformStamped[] transforms",
                                   "tf2_msgs/msg/TFMessage"))
    T = ts.types
    sf = make_scene(frames=1).frames[0]
    frame, view = sf.frame, sf.frame.cameras[0]
    header, tf = _msg_builders(T, ros1=True)
    cloud = encode({"x": frame.points[:, 0], "y": frame.points[:, 1], "z": frame.points[:, 2],
                    "intensity": frame.points[:, 3], "ring": frame.points[:, 4],
                    "label": frame.labels}, datatypes={"ring": PointFieldType.UINT16,
                                                       "label": PointFieldType.UINT16})
    path = tmp_path / "drive.bag"
    tfm = "tf2_msgs/msg/TFMessage"
    with Writer1(path) as writer:
        cst = writer.add_connection("/tf_static", tfm, typestore=ts, latching=1)
        ctf = writer.add_connection("/tf", tfm, typestore=ts)
        cpc = writer.add_connection("/velodyne_points", "sensor_msgs/msg/PointCloud2",
                                    typestore=ts)
        cim = writer.add_connection("/front/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        cin = writer.add_connection("/front/camera_info", "sensor_msgs/msg/CameraInfo",
                                    typestore=ts)
        t0 = view.stamp_ns
        writer.write(cst, t0, ts.serialize_ros1(T[tfm](transforms=[
            tf("/base_link", "/velodyne", t0, frame.T_ego_lidar),
            tf("base_link", "front_optical", t0, sf.T_ego_cam[0])]), tfm))
        for stamp, M in sorted([(frame.stamp_ns, frame.T_world_ego),
                                (view.stamp_ns, sf.T_world_ego_cam[0])]):
            writer.write(ctf, stamp, ts.serialize_ros1(T[tfm](transforms=[
                tf("map", "base_link", stamp, M)]), tfm))
        writer.write(cpc, frame.stamp_ns, ts.serialize_ros1(cloud.to_message(
            T["sensor_msgs/msg/PointCloud2"], T["sensor_msgs/msg/PointField"],
            header(frame.stamp_ns, "velodyne")), "sensor_msgs/msg/PointCloud2"))
        bgr = np.ascontiguousarray(view.image[:, :, ::-1])
        writer.write(cim, view.stamp_ns, ts.serialize_ros1(T["sensor_msgs/msg/Image"](
            header=header(view.stamp_ns, "front_optical"), height=H, width=W, encoding="bgr8",
            is_bigendian=0, step=3 * W, data=bgr.reshape(-1)), "sensor_msgs/msg/Image"))
        roi = T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                    do_rectify=False)
        writer.write(cin, view.stamp_ns, ts.serialize_ros1(T["sensor_msgs/msg/CameraInfo"](
            header=header(view.stamp_ns, "front_optical"), height=H, width=W,
            distortion_model="plumb_bob", D=np.zeros(5), K=view.K.reshape(9),
            R=np.eye(3).reshape(9), P=np.zeros(12), binning_x=0, binning_y=0, roi=roi),
            "sensor_msgs/msg/CameraInfo"))
    source = RosbagSource(path, label_field="label", label_map="nuscenes")
    (got,) = list(source)
    assert got.sequence == "drive" and got.frame_id == f"/velodyne_points/{frame.stamp_ns}"
    np.testing.assert_array_equal(got.points, frame.points)
    np.testing.assert_array_equal(got.labels, frame.labels)
    np.testing.assert_allclose(got.T_ego_lidar, frame.T_ego_lidar, atol=1e-6)
    np.testing.assert_allclose(got.T_world_ego, frame.T_world_ego, atol=1e-6)
    (cam,) = got.cameras
    assert cam.name == "front"
    np.testing.assert_array_equal(cam.image, view.image)
    np.testing.assert_array_equal(cam.K, view.K)
    np.testing.assert_allclose(cam.T_cam_lidar, view.T_cam_lidar, atol=1e-6)


# ----------------------------------------------------------------------- synthetic drive --

def test_synthetic_drive_round_trip(tmp_path: Path) -> None:
    drive = pytest.importorskip("seal_train.synth.drive")
    config = drive.SynthConfig(scenes=1, frames=2, image_width=64, image_height=36,
                               lidar_azimuth_steps=256)
    scene = drive.generate_scene(config, 0)
    (bag,) = write_rosbag([scene], tmp_path, storage="mcap")
    frames = list(RosbagSource(bag, label_field="label", label_map="nuscenes"))
    assert len(frames) == 2
    for got, sf in zip(frames, scene.frames, strict=True):
        want = sf.frame
        np.testing.assert_array_equal(got.points, want.points)
        np.testing.assert_array_equal(got.labels, want.labels)
        np.testing.assert_allclose(got.T_world_ego, want.T_world_ego, atol=1e-6)
        views = {v.name: v for v in got.cameras}
        assert sorted(views) == sorted(v.name.lower() for v in want.cameras)
        for view in want.cameras:
            np.testing.assert_array_equal(views[view.name.lower()].image, view.image)
            np.testing.assert_array_equal(views[view.name.lower()].instance_mask,
                                          view.instance_mask)
            np.testing.assert_allclose(views[view.name.lower()].T_cam_lidar, view.T_cam_lidar,
                                       atol=1e-6)


def test_decode_image_encodings() -> None:
    from types import SimpleNamespace

    import cv2

    from seal_ros.core.images import decode_image

    rgb = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    padded = np.zeros((5, 24), dtype=np.uint8)  # step 24 > 7 * 3: row padding is cropped
    padded[:, :21] = rgb[:, :, ::-1].reshape(5, 21)
    bgr = SimpleNamespace(encoding="bgr8", height=5, width=7, step=24, data=padded.reshape(-1))
    np.testing.assert_array_equal(decode_image(bgr, "x"), rgb)
    mono = SimpleNamespace(encoding="mono8", height=5, width=7, step=7,
                           data=rgb[:, :, 0].reshape(-1))
    np.testing.assert_array_equal(decode_image(mono, "x"), np.repeat(rgb[:, :, :1], 3, axis=2))
    ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
    compressed = SimpleNamespace(format="png", data=png.reshape(-1))
    np.testing.assert_array_equal(decode_image(compressed, "x"), rgb)
    with pytest.raises(ValueError, match="cam: encoding '16UC1'; supported are rgb8"):
        decode_image(SimpleNamespace(encoding="16UC1", height=1, width=1, step=2,
                                     data=np.zeros(2, np.uint8)), "cam")
    with pytest.raises(ValueError, match="cam: 20 bytes, step 21 for 7x5 rgb8"):
        decode_image(SimpleNamespace(encoding="rgb8", height=5, width=7, step=21,
                                     data=np.zeros(20, np.uint8)), "cam")
    with pytest.raises(ValueError, match="cannot decode 'jpeg' compressed image"):
        decode_image(SimpleNamespace(format="jpeg", data=np.zeros(9, np.uint8)), "cam")
