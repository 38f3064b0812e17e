"""nuScenes writer (synthetic drive) and reader, round-tripped through the real nuscenes-devkit."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from seal_ros.core.transforms import rigid
from seal_ros.errors import DatasetError, SealError
from seal_ros.labels import LabelMap
from seal_train.sources.frame import CameraView, Frame, project
from seal_train.sources.nuscenes import NuScenesSource
from seal_train.sources.nuscenes_tables import matrix_to_pose, pose_to_matrix
from seal_train.synth.nuscenes_writer import write_nuscenes
from seal_train.synth.record import POINT_CHANNELS, SynthBox, SynthFrame, SynthScene
from support.geometry import axis_rotation

VERSION = "v1.0-mini"
CAMS = ("CAM_BACK", "CAM_FRONT", "CAM_FRONT_LEFT", "CAM_BACK_RIGHT")  # not nuScenes order
CAM_YAW = {"CAM_FRONT": 0.0, "CAM_FRONT_RIGHT": -0.96, "CAM_BACK_RIGHT": -1.92, "CAM_BACK": np.pi,
           "CAM_BACK_LEFT": 1.92, "CAM_FRONT_LEFT": 0.96}
LABEL_MAP = LabelMap.builtin("nuscenes")


# ------------------------------------------------------------------------- fake synthetic drive --

def _ego_pose(t_s: float) -> np.ndarray:
    """Ego driving a gentle left curve at ~10 m/s, slight pitch, far from the world origin."""
    yaw = 0.3 + 0.2 * t_s
    return rigid(axis_rotation(2, yaw) @ axis_rotation(1, 0.01 * np.sin(t_s)),
                 [410.5 + 10 * t_s, 1170.25 + 2 * t_s * t_s, 0.2 * t_s])


def _T_ego_cam(name: str, rng: np.random.Generator) -> np.ndarray:
    a = CAM_YAW[name]
    optical = np.array([[np.sin(a), 0, np.cos(a)], [-np.cos(a), 0, np.sin(a)], [0, -1, 0]])
    wobble = axis_rotation(0, rng.normal(0, 0.01)) @ axis_rotation(1, rng.normal(0, 0.01))
    return rigid(wobble @ optical, [1.5 * np.cos(a), 0.5 * np.sin(a), 1.5 + rng.normal(0, 0.01)])


def _smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    channels = [127 + 60 * np.sin(xx / rng.uniform(8, 20) + rng.uniform(0, 6))
                + 50 * np.cos(yy / rng.uniform(8, 20)) for _ in range(3)]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def make_scene(name: str, n_frames: int, cams=CAMS, seed: int = 0, size=(72, 128),
               n_points: int = 600, t0_ns: int = 1_532_402_927_647_951_000) -> SynthScene:
    """A hand-built SynthScene: random points and labels, smooth images, real ego motion."""
    rng = np.random.default_rng(seed)
    h, w = size
    T_ego_lidar = rigid(axis_rotation(2, -np.pi / 2) @ axis_rotation(0, 0.003), [0.94, 0.0, 1.84])
    rig = [_T_ego_cam(name_, rng) for name_ in cams]
    intrinsics = [np.array([[rng.uniform(60, 120), 0, w / 2 + 0.25],
                            [0, rng.uniform(60, 120), h / 2 - 0.5], [0, 0, 1]]) for _ in cams]
    frames = []
    for index in range(n_frames):
        stamp_ns = t0_ns + index * 500_000_000 + int(rng.integers(0, 1000)) * 1000
        T_world_ego = _ego_pose((stamp_ns - t0_ns) * 1e-9)
        r = rng.uniform(3, 30, n_points)
        phi = rng.uniform(-np.pi, np.pi, n_points)
        points = np.stack([r * np.cos(phi), r * np.sin(phi), rng.uniform(-2, 3, n_points),
                           rng.uniform(0, 255, n_points), rng.integers(0, 32, n_points)],
                          axis=1).astype(np.float32)
        views, T_world_ego_cam = [], []
        for j, (cam_name, T_ego_cam) in enumerate(zip(cams, rig, strict=True)):
            cam_ns = stamp_ns + (j + 1) * 8_333_000  # cameras fire after the LiDAR
            T_wec = _ego_pose((cam_ns - t0_ns) * 1e-9)
            # Reference chain written out with np.linalg.inv (the reader uses its own inverse).
            T_cam_lidar = (np.linalg.inv(T_ego_cam) @ np.linalg.inv(T_wec) @ T_world_ego
                           @ T_ego_lidar)
            K = intrinsics[j]
            blocks = rng.integers(0, 65535, (h // 8, w // 8)).astype(np.uint16)
            mask = np.kron(blocks, np.ones((8, 8), dtype=np.uint16))
            views.append(CameraView(cam_name, f"{name}/{cam_name}/{index}",
                                    _smooth_image(rng, h, w), K, T_cam_lidar, cam_ns, mask))
            T_world_ego_cam.append(T_wec)
        instances = rng.integers(0, 2**20, n_points).astype(np.uint32)
        instances[:n_points // 10] = 123_456  # the car's points
        frame = Frame(frame_id=f"{name}/{index}", sequence=name, points=points,
                      channels=POINT_CHANNELS, stamp_ns=stamp_ns, T_ego_lidar=T_ego_lidar,
                      T_world_ego=T_world_ego, cameras=tuple(views),
                      labels=rng.integers(0, 32, n_points).astype(np.uint32), label_map=LABEL_MAP,
                      instances=instances)
        boxes = (SynthBox(123_456, 17, T_world_ego[:3, 3] + [5, 2, 0.8],
                          np.array([1.9, 4.5, 1.6]), 0.4 + 0.1 * index, np.array([8.0, 1.0, 0.0])),
                 SynthBox(7, 2, np.array([400.0, 1180.0, 0.9]), np.array([0.6, 0.7, 1.8]), -2.0,
                          np.zeros(3)))
        frames.append(SynthFrame(frame, index, tuple(rig), tuple(T_world_ego_cam), boxes))
    return SynthScene(name, tuple(frames), description=f"fake drive {name}")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, list[SynthScene]]:
    scenes = [make_scene("scene-0061", 3, seed=1), make_scene("scene-0103", 2, seed=2,
                                                             t0_ns=1_533_000_000_000_000_000)]
    root = write_nuscenes(scenes, tmp_path_factory.mktemp("nus") / "root", version=VERSION)
    return root, scenes


@pytest.fixture(scope="module")
def source(written) -> NuScenesSource:
    return NuScenesSource(written[0], VERSION, "all")


def _small(tmp_path: Path, **kwargs) -> Path:
    """A 1-scene, 2-frame, 2-camera dataset for the bad-input cases."""
    scene = make_scene("scene-0553", 2, cams=("CAM_FRONT", "CAM_BACK"), n_points=50,
                       size=(32, 48), **kwargs)
    return write_nuscenes([scene], tmp_path / "small", version=VERSION)


# ----------------------------------------------------------------------------------- geometry --

def test_pose_helpers_round_trip() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        q = rng.normal(size=4)
        T = pose_to_matrix(rng.normal(0, 500, 3), q)
        t, r = matrix_to_pose(T)
        assert r[0] >= 0 and abs(np.linalg.norm(r) - 1) < 1e-15
        np.testing.assert_allclose(pose_to_matrix(t, r), T, atol=1e-13)
    # 180-degree turns hit the non-trace branches of Shepperd's method.
    for axis in range(3):
        T = rigid(axis_rotation(axis, np.pi), [1, 2, 3])
        np.testing.assert_allclose(pose_to_matrix(*matrix_to_pose(T)), T, atol=1e-15)
    with pytest.raises(DatasetError, match="not a rotation"):
        matrix_to_pose(np.diag([1.0, 1.0, -1.0, 1.0]))


# --------------------------------------------------------------------------------- the devkit --

def test_devkit_opens_written_dataset(written) -> None:
    from nuscenes.nuscenes import NuScenes
    from nuscenes.utils.data_classes import LidarPointCloud
    from nuscenes.utils.data_io import load_bin_file
    from nuscenes.utils.geometry_utils import transform_matrix
    from pyquaternion import Quaternion

    root, scenes = written
    nusc = NuScenes(version=VERSION, dataroot=str(root), verbose=False)
    assert [s["name"] for s in nusc.scene] == ["scene-0061", "scene-0103"]
    assert [s["nbr_samples"] for s in nusc.scene] == [3, 2]
    assert len(nusc.sample) == 5 and len(nusc.lidarseg) == 5
    assert len(nusc.sample_data) == 5 * (1 + len(CAMS)) and len(nusc.ego_pose) == 5 * 5
    assert len(nusc.category) == 32 and nusc.lidarseg_idx2name_mapping[17] == "vehicle.car"
    assert len(nusc.calibrated_sensor) == 1 + 2 * len(CAMS)  # same LiDAR mount, a rig per scene
    assert len(nusc.sample_annotation) == 10 and len(nusc.instance) == 4

    sample = nusc.get("sample", nusc.scene[0]["first_sample_token"])
    synth = scenes[0].frames[0]
    assert sample["timestamp"] * 1000 == synth.frame.stamp_ns
    assert set(sample["data"]) == {"LIDAR_TOP", *CAMS}
    lidar_token = sample["data"]["LIDAR_TOP"]
    labels = load_bin_file(str(root / nusc.get("lidarseg", lidar_token)["filename"]))
    np.testing.assert_array_equal(labels, synth.frame.labels.astype(np.uint8))
    pc = LidarPointCloud.from_file(nusc.get_sample_data_path(lidar_token))
    np.testing.assert_array_equal(pc.points, synth.frame.points[:, :4].T)
    # The devkit's own (pyquaternion) pose decoding gives the written transforms back.
    lidar_sd = nusc.get("sample_data", lidar_token)
    for table, want in (("calibrated_sensor", synth.frame.T_ego_lidar),
                        ("ego_pose", synth.frame.T_world_ego)):
        rec = nusc.get(table, lidar_sd[f"{table}_token"])
        got = transform_matrix(rec["translation"], Quaternion(rec["rotation"]))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)

    cam_index = CAMS.index("CAM_FRONT")
    _, _, K = nusc.get_sample_data(sample["data"]["CAM_FRONT"])
    np.testing.assert_array_equal(K, synth.frame.cameras[cam_index].K)
    cam_sd = nusc.get("sample_data", sample["data"]["CAM_FRONT"])
    assert cam_sd["timestamp"] * 1000 == synth.frame.cameras[cam_index].stamp_ns
    assert (cam_sd["height"], cam_sd["width"]) == (72, 128)

    box = nusc.get_box(sample["anns"][0])
    np.testing.assert_allclose(box.center, synth.boxes[0].center, atol=1e-12)
    np.testing.assert_allclose(box.wlh, synth.boxes[0].size_wlh)
    assert box.orientation.yaw_pitch_roll[0] == pytest.approx(synth.boxes[0].yaw, abs=1e-12)
    ann = nusc.get("sample_annotation", sample["anns"][0])
    assert ann["num_lidar_pts"] == int((synth.frame.instances == synth.boxes[0].instance).sum())
    assert nusc.get("attribute", ann["attribute_tokens"][0])["name"] == "vehicle.moving"
    inst = nusc.get("instance", ann["instance_token"])
    assert inst["nbr_annotations"] == 3 and ann["next"] and not ann["prev"]


# ------------------------------------------------------------------------------- round trip --

def test_round_trip_frames(written, source) -> None:
    _, scenes = written
    expected = [synth for scene in scenes for synth in scene.frames]
    assert len(source) == 5 and source.scenes == ["scene-0061", "scene-0103"]
    assert source.cameras == ("CAM_FRONT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_FRONT_LEFT")
    frames = list(source)
    assert len(frames) == 5 and source.skipped == {}
    for frame, synth in zip(frames, expected, strict=True):
        want = synth.frame
        assert frame.frame_id == source.nusc.get("sample", frame.extras["sample_token"])[
            "data"]["LIDAR_TOP"]
        assert frame.sequence == want.sequence and frame.stamp_ns == want.stamp_ns
        assert frame.channels == POINT_CHANNELS and frame.points.dtype == np.float32
        np.testing.assert_array_equal(frame.points, want.points)
        assert frame.labels.dtype == np.uint32
        np.testing.assert_array_equal(frame.labels, want.labels)
        np.testing.assert_array_equal(frame.instances, want.instances)
        assert frame.label_map is source.label_map
        np.testing.assert_allclose(frame.T_ego_lidar, want.T_ego_lidar, rtol=0, atol=1e-9)
        np.testing.assert_allclose(frame.T_world_ego, want.T_world_ego, rtol=0, atol=1e-9)
        by_name = {cam.name: cam for cam in want.cameras}
        assert [cam.name for cam in frame.cameras] == list(source.cameras)
        for cam in frame.cameras:
            ref = by_name[cam.name]
            sd = source.nusc.get("sample_data", cam.image_id)
            assert sd["channel"] == cam.name and sd["sample_token"] == frame.extras["sample_token"]
            assert cam.stamp_ns == ref.stamp_ns
            np.testing.assert_array_equal(cam.K, ref.K)
            np.testing.assert_allclose(cam.T_cam_lidar, ref.T_cam_lidar, rtol=0, atol=1e-9)
            assert cam.image.shape == ref.image.shape and cam.image.dtype == np.uint8
            diff = np.abs(cam.image.astype(int) - ref.image.astype(int))
            assert diff.mean() < 1.5 and diff.max() <= 24  # JPEG q95 on smooth images
            np.testing.assert_array_equal(cam.instance_mask, ref.instance_mask)


def test_projection_matches_written_calibration(written, source) -> None:
    _, scenes = written
    expected = [synth.frame for scene in scenes for synth in scene.frames]
    total = 0
    for frame, want in zip(source, expected, strict=True):
        got, ref = project(frame), project(want)
        # Same pairs, camera indices translated from the reader's order to the writer's.
        order = np.array([[c.name for c in want.cameras].index(c.name) for c in frame.cameras])
        key_got = np.lexsort((got.col, got.row, got.point_index, order[got.camera_index]))
        key_ref = np.lexsort((ref.col, ref.row, ref.point_index, ref.camera_index))
        np.testing.assert_array_equal(got.point_index[key_got], ref.point_index[key_ref])
        np.testing.assert_array_equal(order[got.camera_index][key_got], ref.camera_index[key_ref])
        np.testing.assert_array_equal(got.row[key_got], ref.row[key_ref])
        np.testing.assert_array_equal(got.col[key_got], ref.col[key_ref])
        np.testing.assert_allclose(got.depth[key_got], ref.depth[key_ref], rtol=1e-6)
        total += len(got)
    assert total > 100  # the comparison is not vacuous


def test_getitem_negative_and_no_images(written, source) -> None:
    root, scenes = written
    last = source[-1]
    assert last.frame_id == source.frame_ids[-1] and last.sequence == "scene-0103"
    lazy = NuScenesSource(root, VERSION, "all", cameras=["CAM_BACK"], load_images=False)
    frame = lazy[0]
    (cam,) = frame.cameras
    assert cam.image.shape == (72, 128, 3) and not cam.image.any()
    np.testing.assert_allclose(cam.T_cam_lidar, scenes[0].frames[0].frame.cameras[0].T_cam_lidar,
                               atol=1e-9)


# ------------------------------------------------------------------------------------ splits --

def test_splits_and_scene_list(written, tmp_path) -> None:
    root, _ = written
    assert NuScenesSource(root, VERSION, "mini_train").scenes == ["scene-0061"]
    assert len(NuScenesSource(root, VERSION, "mini_val")) == 2
    assert NuScenesSource(root, VERSION, "train").scenes == ["scene-0061"]
    with pytest.raises(DatasetError,
                       match=r"split 'test' selects none of the 2 scenes.*splits/test.txt"):
        NuScenesSource(root, VERSION, "test")
    listing = tmp_path / "scenes.txt"
    listing.write_text("# my split\nscene-0103\n\n")
    src = NuScenesSource(root, VERSION, listing)
    assert src.scenes == ["scene-0103"] and len(src) == 2
    assert {f.sequence for f in src} == {"scene-0103"}
    listing.write_text("scene-0103\nscene-9999\n")
    with pytest.raises(DatasetError, match=r"scenes.txt: scenes \['scene-9999'\] are not in"):
        NuScenesSource(root, VERSION, str(listing))
    with pytest.raises(DatasetError, match="neither one of"):
        NuScenesSource(root, VERSION, "bogus")
    with pytest.raises(DatasetError, match="no camera channel"):
        NuScenesSource(root, VERSION, "all", cameras=["CAM_FRONT_RIGHT"])
    with pytest.raises(DatasetError, match="v1.0-trainval: no such directory"):
        NuScenesSource(root, "v1.0-trainval", "all")


def test_dataroot_split_lists_name_splits(written) -> None:
    """The writer's splits/ lists: train = every scene but the last, val = the last; a named
    split the dataroot lists is read from there instead of the devkit's table."""
    root, scenes = written
    names = [s.name for s in scenes]
    assert (root / "splits" / "train.txt").read_text().split() == names[:-1]
    assert (root / "splits" / "val.txt").read_text().split() == names[-1:]
    assert NuScenesSource(root, VERSION, "val").scenes == names[-1:]
    own = root / "splits" / "test.txt"  # the devkit's test split has none of these scenes
    own.write_text(names[0] + "\n")
    try:
        assert NuScenesSource(root, VERSION, "test").scenes == names[:1]
    finally:
        own.unlink()


def test_sweeps(tmp_path) -> None:
    from nuscenes.nuscenes import NuScenes

    scene = make_scene("scene-0655", 5, cams=("CAM_FRONT",), n_points=40, size=(24, 32))
    root = write_nuscenes([scene], tmp_path / "sw", version=VERSION, keyframe_every=2)
    nusc = NuScenes(version=VERSION, dataroot=str(root), verbose=False)
    assert len(nusc.sample) == 3 and len(nusc.lidarseg) == 3
    assert sum(not sd["is_key_frame"] for sd in nusc.sample_data) == 2 * 2
    keys = NuScenesSource(root, VERSION, "all")
    assert [f.stamp_ns for f in keys] == [scene.frames[i].frame.stamp_ns for i in (0, 2, 4)]
    every = list(NuScenesSource(root, VERSION, "all", sweeps=True))
    assert [f.stamp_ns for f in every] == [s.frame.stamp_ns for s in scene.frames]
    assert [f.extras["is_key_frame"] for f in every] == [True, False, True, False, True]
    for frame, synth in zip(every, scene.frames, strict=True):
        np.testing.assert_array_equal(frame.points, synth.frame.points)
        np.testing.assert_allclose(frame.T_world_ego, synth.frame.T_world_ego, atol=1e-9)
        np.testing.assert_array_equal(frame.instances, synth.frame.instances)
        if frame.extras["is_key_frame"]:
            np.testing.assert_array_equal(frame.labels, synth.frame.labels)
            assert len(frame.cameras) == 1
        else:
            assert frame.labels is None and frame.cameras == ()


# ---------------------------------------------------------------------------------- bad input --

def _lidar_file(root: Path, index: int = 0) -> Path:
    return sorted((root / "samples" / "LIDAR_TOP").iterdir())[index]


def _edit_table(root: Path, table: str, edit) -> None:
    path = root / VERSION / f"{table}.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _damage_missing_points(root: Path) -> str:
    path = _lidar_file(root)
    path.unlink()
    return rf"{path.name}: missing; expected the LiDAR scan"


def _damage_truncated(root: Path) -> str:
    path = _lidar_file(root)
    path.write_bytes(path.read_bytes()[:-3])
    return rf"{path.name}: 997 bytes is not a multiple of 20"


def _damage_missing_image(root: Path) -> str:
    path = sorted((root / "samples" / "CAM_BACK").iterdir())[0]
    path.unlink()
    return rf"{path.name}: missing; expected the CAM_BACK image"


def _damage_label_count(root: Path) -> str:
    path = sorted((root / "lidarseg" / VERSION).iterdir())[0]
    path.write_bytes(path.read_bytes() + b"\x01")
    return rf"{path.name}: 51 labels for the 50 points"


def _damage_intrinsic(root: Path) -> str:
    def edit(records):
        for rec in records:
            if rec["camera_intrinsic"]:
                rec["camera_intrinsic"] = []
                return records
        raise AssertionError("no camera calibration")
    _edit_table(root, "calibrated_sensor", edit)
    return r"calibrated_sensor.json: record \w+ of sample_data \w+ \(CAM_\w+\) lacks"


def _damage_bad_image(root: Path) -> str:
    path = sorted((root / "samples" / "CAM_FRONT").iterdir())[1]
    path.write_bytes(b"not a jpeg")
    return rf"{path.name}: cannot decode"


def _damage_missing_pose(root: Path) -> str:
    lidar = sorted(sd["ego_pose_token"] for sd in json.loads(
        (root / VERSION / "sample_data.json").read_text()) if sd["fileformat"] == "pcd")
    _edit_table(root, "ego_pose", lambda recs: [r for r in recs if r["token"] != lidar[0]])
    return rf"ego_pose.json: no record {lidar[0]} for sample_data \w+ \(LIDAR_TOP\)"


DAMAGE = {  # case -> (damage, skip reason, frames it breaks out of 2)
    "missing_points": (_damage_missing_points, "missing_file", 1),
    "truncated_points": (_damage_truncated, "truncated_points", 1),
    "missing_image": (_damage_missing_image, "missing_file", 1),
    "label_count": (_damage_label_count, "label_count", 1),
    "no_intrinsic": (_damage_intrinsic, "calibration", 2),
    "missing_pose": (_damage_missing_pose, "calibration", 1),
    "bad_image": (_damage_bad_image, "bad_image", 1)}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_bad_input_raises_and_skips(tmp_path, case, caplog) -> None:
    root = _small(tmp_path)
    damage, reason, n_bad = DAMAGE[case]
    message = damage(root)
    if case == "bad_image":  # only found when decoded: iteration raises / skips, len does not
        src = NuScenesSource(root, VERSION, "all")
        assert len(src) == 2
        with pytest.raises(DatasetError, match=message):
            list(src)
        with pytest.raises(DatasetError, match=message):
            src[1]
        skipping = NuScenesSource(root, VERSION, "all", on_error="skip")
        with caplog.at_level(logging.WARNING):
            frames = list(skipping)
    else:
        with pytest.raises(DatasetError, match=message):
            NuScenesSource(root, VERSION, "all")
        with caplog.at_level(logging.WARNING):
            skipping = NuScenesSource(root, VERSION, "all", on_error="skip")
        assert len(skipping) == 2 - n_bad
        frames = list(skipping)
    assert skipping.skipped == {reason: n_bad}
    assert len(frames) == 2 - n_bad and all(isinstance(f, Frame) for f in frames)
    assert any("skipping frame" in rec.message for rec in caplog.records)


def test_missing_calibrated_sensor_names_table(tmp_path) -> None:
    root = _small(tmp_path)
    _edit_table(root, "calibrated_sensor", lambda recs: [r for r in recs if r["camera_intrinsic"]])
    with pytest.raises(DatasetError, match=r"sample_data.json record \w+ refers to "
                       r"calibrated_sensor_token '\w+', which is missing from "
                       r"calibrated_sensor.json"):
        NuScenesSource(root, VERSION, "all")


def test_missing_camera_is_counted(tmp_path) -> None:
    scenes = [make_scene("scene-0757", 1, cams=("CAM_FRONT", "CAM_BACK"), n_points=30,
                         size=(24, 32)),
              make_scene("scene-0796", 2, cams=("CAM_FRONT",), n_points=30, size=(24, 32),
                         t0_ns=1_533_000_000_000_000_000)]
    root = write_nuscenes(scenes, tmp_path / "mc", version=VERSION)
    with pytest.raises(DatasetError, match="scene-0796 has no CAM_BACK keyframe image"):
        NuScenesSource(root, VERSION, "all")
    src = NuScenesSource(root, VERSION, "all", on_error="skip")
    assert src.skipped == {"missing_camera": 2} and len(src) == 1
    assert len(NuScenesSource(root, VERSION, "all", cameras=["CAM_FRONT"])) == 3


# ------------------------------------------------------------------------------------- writer --

def test_writer_refuses_non_empty_root_and_overwrites(tmp_path) -> None:
    root = _small(tmp_path)
    with pytest.raises(SealError, match="not empty; refusing .* overwrite=True"):
        _small(tmp_path)
    (root / "keep.txt").write_text("user file")
    scene = make_scene("scene-1077", 1, cams=("CAM_FRONT",), n_points=20, size=(16, 16))
    write_nuscenes([scene], root, version=VERSION, overwrite=True)
    src = NuScenesSource(root, VERSION, "all")
    assert src.scenes == ["scene-1077"] and len(src) == 1
    assert (root / "keep.txt").read_text() == "user file"
    assert len(list((root / "samples" / "LIDAR_TOP").iterdir())) == 1


def test_writer_rejects_unrepresentable_frames(tmp_path) -> None:
    scene = make_scene("scene-1094", 1, cams=("CAM_FRONT",), n_points=20, size=(16, 16))
    synth = scene.frames[0]
    cam = synth.frame.cameras[0]
    T_bad = cam.T_cam_lidar.copy()
    T_bad[0, 3] += 0.01
    moved = CameraView(cam.name, cam.image_id, cam.image, cam.K, T_bad, cam.stamp_ns)
    bad = SynthFrame(Frame(synth.frame.frame_id, synth.frame.sequence, synth.frame.points,
                           synth.frame.channels, synth.frame.stamp_ns, synth.frame.T_ego_lidar,
                           synth.frame.T_world_ego, (moved,)), 0, synth.T_ego_cam,
                     synth.T_world_ego_cam)
    with pytest.raises(DatasetError, match="CAM_FRONT: T_cam_lidar differs by 0.01"):
        write_nuscenes([SynthScene("x", (bad,))], tmp_path / "a")
    labels = synth.frame.labels.copy()
    labels[3] = 40
    bad = SynthFrame(Frame(synth.frame.frame_id, synth.frame.sequence, synth.frame.points,
                           synth.frame.channels, synth.frame.stamp_ns, synth.frame.T_ego_lidar,
                           synth.frame.T_world_ego, synth.frame.cameras, labels, LABEL_MAP), 0,
                     synth.T_ego_cam, synth.T_world_ego_cam)
    with pytest.raises(DatasetError, match=r"raw labels \[40\] are not nuScenes lidarseg ids"):
        write_nuscenes([SynthScene("y", (bad,))], tmp_path / "b")
    with pytest.raises(DatasetError, match="'scene-1094' is used twice"):
        write_nuscenes([scene, scene], tmp_path / "c")


# ---------------------------------------------------------------------- the real synthetic drive --

def test_generated_drive_round_trip(tmp_path) -> None:
    drive = pytest.importorskip("seal_train.synth.drive")
    from dataclasses import replace

    scene = drive.generate_scene(replace(drive.SynthConfig(), scenes=1, frames=2), 0)
    root = write_nuscenes([scene], tmp_path / "drive", version=VERSION)
    frames = list(NuScenesSource(root, VERSION, "all"))
    assert len(frames) == 2
    for frame, synth in zip(frames, scene.frames, strict=True):
        np.testing.assert_array_equal(frame.points, synth.frame.points)
        np.testing.assert_array_equal(frame.labels, synth.frame.labels)
        for cam, ref in zip(frame.cameras, synth.frame.cameras, strict=True):
            assert cam.name == ref.name
            np.testing.assert_allclose(cam.T_cam_lidar, ref.T_cam_lidar, atol=1e-9)
            np.testing.assert_array_equal(cam.instance_mask, ref.instance_mask)
