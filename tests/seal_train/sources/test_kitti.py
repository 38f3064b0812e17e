"""SemanticKITTI-format reader, and the synthetic drive's KITTI writer round-tripped through it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from seal_ros.core.projection import project_points
from seal_ros.core.transforms import rigid
from seal_ros.errors import DatasetError
from seal_ros.labels import LabelMap
from seal_train.sources.detect import open_source
from seal_train.sources.frame import CameraView, Frame, project
from seal_train.sources.kitti import KittiSource
from seal_train.synth.kitti_writer import LABEL_MAP_FILE, write_kitti
from seal_train.synth.record import POINT_CHANNELS, SynthFrame, SynthScene
from support.geometry import axis_rotation

NUSCENES = LabelMap.builtin("nuscenes")
T0_NS = 1_700_000_000_123_456_789  # not a whole microsecond: stamps must survive to the ns


def _ego_pose(t_s: float) -> np.ndarray:
    """Ego on a gentle left curve at ~10 m/s with a little pitch, far from the world origin."""
    return rigid(axis_rotation(2, 0.3 + 0.2 * t_s) @ axis_rotation(1, 0.01 * np.sin(t_s)),
                 [410.5 + 10 * t_s, 1170.25 + 2 * t_s * t_s, 0.2 * t_s])


OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
"""ego (x fwd, y left, z up) -> camera optical (x right, y down, z fwd), as rows."""


# ------------------------------------------------------------------------- fake synthetic drive --

def make_scene(name: str, n_frames: int, seed: int = 0, size=(40, 64), n_points: int = 500,
               front_offset_ns: int = 0, t0_ns: int = T0_NS) -> SynthScene:
    """A hand-built SynthScene: CAM_FRONT (at the scan stamp) + CAM_BACK (8 ms late), motion."""
    rng = np.random.default_rng(seed)
    h, w = size
    T_ego_lidar = rigid(axis_rotation(2, -np.pi / 2) @ axis_rotation(0, 0.003), [0.94, 0.0, 1.84])
    T_ego_front = rigid(axis_rotation(0, 0.01) @ OPTICAL.T, [1.6, 0.02, 1.5])
    T_ego_back = rigid(axis_rotation(2, np.pi) @ OPTICAL.T, [-1.0, 0.0, 1.5])
    K = np.array([[55.5, 0, w / 2 + 0.25], [0, 54.25, h / 2 - 0.5], [0, 0, 1]])
    frames = []
    for index in range(n_frames):
        stamp_ns = t0_ns + index * 100_000_017
        T_world_ego = _ego_pose((stamp_ns - t0_ns) * 1e-9)
        r = rng.uniform(3, 30, n_points)
        phi = rng.uniform(-np.pi, np.pi, n_points)
        points = np.stack([r * np.cos(phi), r * np.sin(phi), rng.uniform(-2, 3, n_points),
                           rng.uniform(0, 255, n_points), rng.integers(0, 32, n_points)],
                          axis=1).astype(np.float32)
        views, T_world_ego_cams = [], []
        for cam, T_ego_cam, offset in (("CAM_FRONT", T_ego_front, front_offset_ns),
                                       ("CAM_BACK", T_ego_back, 8_000_000)):
            T_wec = _ego_pose((stamp_ns + offset - t0_ns) * 1e-9)
            T_cam_lidar = (np.linalg.inv(T_ego_cam) @ np.linalg.inv(T_wec) @ T_world_ego
                           @ T_ego_lidar)
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            mask = rng.integers(0, 65535, (h, w)).astype(np.uint16)
            views.append(CameraView(cam, f"{name}/{index}/{cam}", image, K, T_cam_lidar,
                                    stamp_ns + offset, mask))
            T_world_ego_cams.append(T_wec)
        frame = Frame(frame_id=f"{name}/{index:06d}", sequence=name, points=points,
                      channels=POINT_CHANNELS, stamp_ns=stamp_ns, T_ego_lidar=T_ego_lidar,
                      T_world_ego=T_world_ego, cameras=tuple(views),
                      labels=rng.integers(0, 32, n_points).astype(np.uint32), label_map=NUSCENES,
                      instances=rng.integers(0, 65536, n_points).astype(np.uint32))
        frames.append(SynthFrame(frame, index, (T_ego_front, T_ego_back), tuple(T_world_ego_cams)))
    return SynthScene(name, tuple(frames))


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, list[SynthScene]]:
    scenes = [make_scene("scene-0000", 3, seed=1), make_scene("scene-0001", 2, seed=2,
                                                             t0_ns=T0_NS + 3_600_000_000_000)]
    return write_kitti(scenes, tmp_path_factory.mktemp("kitti") / "root"), scenes


def test_writer_layout(written) -> None:
    root, scenes = written
    seq = root / "sequences" / "00"
    assert sorted(p.name for p in root.iterdir()) == [LABEL_MAP_FILE, "sequences", "splits"]
    assert sorted(p.name for p in (root / "sequences").iterdir()) == ["00", "01"]
    assert (root / "splits" / "train.txt").read_text() == "00\n"
    assert (root / "splits" / "val.txt").read_text() == "01\n"
    # the root's own split lists win over SemanticKITTI's standard sequences (val = 08)
    assert KittiSource(root, "val", label_map="auto", load_images=False).sequences == ["01"]
    assert sorted(p.name for p in seq.iterdir()) == [
        "calib.txt", "image_2", "instance_2", "labels", "poses.txt", "times.txt", "times_ns.txt",
        "velodyne"]
    assert sorted(p.name for p in (seq / "velodyne").iterdir()) == [
        "000000.bin", "000001.bin", "000002.bin"]
    assert (seq / "velodyne" / "000000.bin").stat().st_size == 500 * 16
    assert (seq / "times.txt").read_text().split() == ["0.000000000", "0.100000017", "0.200000034"]
    assert (seq / "times_ns.txt").read_text().split() == [
        str(f.frame.stamp_ns) for f in scenes[0].frames]
    calib = dict(line.split(":") for line in (seq / "calib.txt").read_text().splitlines())
    assert sorted(calib) == ["P0", "P1", "P2", "P3", "Tr"]
    assert calib["P0"] == calib["P2"] == calib["P3"]
    P2 = np.array(calib["P2"].split(), dtype=np.float64).reshape(3, 4)
    np.testing.assert_array_equal(P2[:, :3], scenes[0].frames[0].frame.cameras[0].K)
    np.testing.assert_array_equal(P2[:, 3], 0.0)
    assert LabelMap.from_yaml(root / LABEL_MAP_FILE).learning_map == NUSCENES.learning_map
    raw = np.fromfile(seq / "labels" / "000001.label", dtype=np.uint32)
    synth = scenes[0].frames[1].frame
    np.testing.assert_array_equal(raw, synth.labels + (synth.instances << 16))


def test_round_trip(written) -> None:
    root, scenes = written
    source = KittiSource(root, label_map="auto")
    assert source.sequences == ["00", "01"] and len(source) == 5
    assert source.label_map.name == "nuscenes" and source.label_map.num_classes == 16
    assert source.frame_ids == ["00/000000", "00/000001", "00/000002", "01/000000", "01/000001"]
    synth_frames = [f for scene in scenes for f in scene.frames]
    for frame, item in zip(source, synth_frames, strict=True):
        synth = item.frame
        assert frame.sequence == frame.frame_id[:2]
        assert frame.channels == ("x", "y", "z", "intensity")
        np.testing.assert_array_equal(frame.points, synth.points[:, :4])
        np.testing.assert_array_equal(frame.labels, synth.labels)
        np.testing.assert_array_equal(frame.instances, synth.instances)
        np.testing.assert_array_equal(frame.train_labels(), synth.train_labels())
        assert frame.stamp_ns == synth.stamp_ns
        np.testing.assert_array_equal(frame.T_ego_lidar, np.eye(4))
        np.testing.assert_allclose(frame.T_world_lidar, synth.T_world_lidar, rtol=0, atol=1e-9)
        assert len(frame.cameras) == 1
        cam, front = frame.cameras[0], synth.cameras[0]
        assert cam.name == "image_2" and cam.image_id == f"{frame.frame_id[:2]}/image_2/" \
                                                         f"{frame.frame_id[3:]}"
        np.testing.assert_array_equal(cam.K, front.K)
        np.testing.assert_allclose(cam.T_cam_lidar, front.T_cam_lidar, rtol=0, atol=1e-9)
        np.testing.assert_array_equal(cam.image, front.image)
        np.testing.assert_array_equal(cam.instance_mask, front.instance_mask)
        assert cam.stamp_ns == synth.stamp_ns == front.stamp_ns
        # The same point -> pixel pairs as the synthetic frame's CAM_FRONT.
        pairs = project(frame)
        want = project_points(synth.xyz, front.K, front.T_cam_lidar, front.height, front.width)
        assert len(pairs) == len(want[0]) > 20
        columns = (pairs.point_index, pairs.row, pairs.col, pairs.depth)
        for got, ref in zip(columns, want, strict=True):
            np.testing.assert_array_equal(got, ref)


def test_reader_options(written) -> None:
    root, scenes = written
    one = KittiSource(root, sequences=["01"], label_map=root / LABEL_MAP_FILE, cameras=(),
                      load_images=False)
    assert len(one) == 2 and one[1].cameras == () and one[1].frame_id == "01/000001"
    lazy = KittiSource(root, sequences=[1], label_map="nuscenes", load_images=False)
    cam = lazy[0].cameras[0]
    assert cam.image.shape == (40, 64, 3) and not cam.image.any() and not cam.image.flags.writeable
    np.testing.assert_array_equal(cam.K, scenes[1].frames[0].frame.cameras[0].K)
    # The default map is SemanticKITTI's; nuScenes raw ids it does not know are an error on use.
    default = KittiSource(root, sequences="all")
    assert default.label_map.name == "semantic-kitti"
    with pytest.raises(DatasetError, match="label map 'semantic-kitti' does not know"):
        for frame in default:
            frame.train_labels()
    assert "KittiSource(" in repr(default) and "5 frames" in repr(default)
    # Format detection opens the written drive with its own label map.
    detected = open_source(root)
    assert isinstance(detected, KittiSource) and detected.label_map.name == "nuscenes"
    assert len(detected) == 5


def test_times_txt_without_ns_sidecar(tmp_path) -> None:
    root = write_kitti([make_scene("s", 3)], tmp_path / "k")
    (root / "sequences" / "00" / "times_ns.txt").unlink()
    stamps = [f.stamp_ns for f in KittiSource(root, label_map="auto", cameras=())]
    assert stamps == [0, 100_000_017, 200_000_034]  # exact decimal parse of times.txt


def test_writer_refuses_non_empty_root(tmp_path) -> None:
    root = tmp_path / "k"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match=r"not empty.*overwrite=True"):
        write_kitti([make_scene("s", 1)], root)
    write_kitti([make_scene("s", 2)], root, overwrite=True)
    write_kitti([make_scene("s", 1)], root, overwrite=True)
    assert len(KittiSource(root, label_map="auto")) == 1
    assert (root / "notes.txt").read_text() == "mine"


def test_writer_rejects_unrepresentable(tmp_path) -> None:
    with pytest.raises(DatasetError, match="CAM_FRONT T_cam_lidar differs"):
        write_kitti([make_scene("s", 2, front_offset_ns=20_000_000)], tmp_path / "a")
    assert not (tmp_path / "a" / "sequences").exists()  # nothing half-written is left
    for name, value in (("labels", 70_000), ("instances", 65_536)):
        scene = make_scene("s", 2)
        frame = scene.frames[1].frame
        getattr(frame, name)[3] = value
        with pytest.raises(DatasetError, match=f"s/000001: {name} reach {value}"):
            write_kitti([scene], tmp_path / name)
    scene = make_scene("s", 1)
    item = scene.frames[0]
    back_only = SynthFrame(Frame(**{**{k: getattr(item.frame, k) for k in (
        "frame_id", "sequence", "points", "channels", "stamp_ns", "T_ego_lidar", "T_world_ego",
        "labels", "label_map", "instances")}, "cameras": item.frame.cameras[1:]}), 0,
        item.T_ego_cam[1:], item.T_world_ego_cam[1:])
    with pytest.raises(DatasetError, match="no CAM_FRONT camera"):
        write_kitti([SynthScene("s", (back_only,))], tmp_path / "c")
    with pytest.raises(DatasetError, match="no scenes"):
        write_kitti([], tmp_path / "d")


# ------------------------------------------------------------------- real SemanticKITTI layout --

# Sequence 00's real calibration (KITTI odometry calib.txt).
P0 = np.array([[718.856, 0, 607.1928, 0], [0, 718.856, 185.2157, 0], [0, 0, 1, 0]])
P2 = np.array([[718.856, 0, 607.1928, 45.38225], [0, 718.856, 185.2157, -0.1130887],
               [0, 0, 1, 0.003779761]])
P3 = np.array([[718.856, 0, 607.1928, -337.2877], [0, 718.856, 185.2157, 2.369057],
               [0, 0, 1, 0.004915215]])
TR = np.array([[4.276802385584e-04, -9.999672484946e-01, -8.084491683471e-03, -1.198459927713e-02],
               [-7.210626507497e-03, 8.081198471645e-03, -9.999413164504e-01, -5.403984729748e-02],
               [9.999738645903e-01, 4.859485810390e-04, -7.206933692422e-03, -2.921968648686e-01]])
RAW_IDS = np.array([0, 1, 10, 11, 13, 15, 16, 18, 20, 30, 31, 32, 40, 44, 48, 49, 50, 51, 52, 60,
                    70, 71, 72, 80, 81, 99, 252, 253, 254, 255, 256, 257, 258, 259],
                   dtype=np.uint32)


def _write_real(root: Path, seq: str = "00", n_frames: int = 3, n_points: int = 400,
                seed: int = 0) -> dict[str, list[np.ndarray]]:
    """A tiny sequence in real SemanticKITTI's layout and number formats."""
    rng = np.random.default_rng(seed)
    path = root / "sequences" / seq
    for name in ("velodyne", "labels", "image_2", "image_3"):
        (path / name).mkdir(parents=True, exist_ok=True)
    fmt = lambda m: " ".join(f"{v:.12e}" for v in m.ravel())  # noqa: E731
    (path / "calib.txt").write_text(f"P0: {fmt(P0)}\nP1: {fmt(P0)}\nP2: {fmt(P2)}\nP3: {fmt(P3)}\n"
                                    f"Tr: {fmt(TR)}\n")
    out: dict[str, list[np.ndarray]] = {"points": [], "raw": [], "poses": [], "images": []}
    for k in range(n_frames):
        # cam0: y down, z forward
        pose = rigid(axis_rotation(1, 0.05 * k), [0.02 * k, -0.01 * k, 0.9 * k])
        out["poses"].append(pose)
        points = np.column_stack([rng.uniform(5, 40, n_points), rng.uniform(-10, 10, n_points),
                                  rng.uniform(-2, 1, n_points),
                                  rng.uniform(0, 1, n_points)]).astype(np.float32)
        points.tofile(path / "velodyne" / f"{k:06d}.bin")
        raw = RAW_IDS[rng.integers(0, len(RAW_IDS), n_points)] | (
            rng.integers(0, 40, n_points).astype(np.uint32) << 16)
        raw.tofile(path / "labels" / f"{k:06d}.label")
        images = []
        for cam in ("image_2", "image_3"):
            image = rng.integers(0, 256, (37, 124, 3), dtype=np.uint8)
            cv2.imwrite(str(path / cam / f"{k:06d}.png"), image[..., ::-1])
            images.append(image)
        out["points"].append(points)
        out["raw"].append(raw)
        out["images"].append(images)
    (path / "poses.txt").write_text("".join(fmt(p[:3]) + "\n" for p in out["poses"]))
    (path / "times.txt").write_text("".join(f"{0.103726 * k:.6e}\n" for k in range(n_frames)))
    return out


@pytest.fixture()
def real(tmp_path) -> tuple[Path, dict[str, list[np.ndarray]]]:
    root = tmp_path / "semantickitti"
    return root, _write_real(root)


def test_real_layout_conventions(real) -> None:
    root, data = real
    source = KittiSource(root, sequences=["00"], cameras=("image_2", "image_3"))
    assert source.label_map.name == "semantic-kitti" and source.label_map.num_classes == 19
    Tr = np.vstack([TR, [0, 0, 0, 1]])
    frames = list(source)
    assert [f.frame_id for f in frames] == ["00/000000", "00/000001", "00/000002"]
    assert [f.stamp_ns for f in frames] == [0, 103_726_000, 207_452_000]
    for k, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.points, data["points"][k])
        np.testing.assert_array_equal(frame.labels, data["raw"][k] & 0xFFFF)
        np.testing.assert_array_equal(frame.instances, data["raw"][k] >> 16)
        assert frame.labels.dtype == frame.instances.dtype == np.uint32
        np.testing.assert_allclose(frame.T_world_ego, np.linalg.inv(Tr) @ data["poses"][k] @ Tr,
                                   rtol=0, atol=1e-12)
        np.testing.assert_array_equal(frame.T_ego_lidar, np.eye(4))
        assert [c.name for c in frame.cameras] == ["image_2", "image_3"]
        assert [c.image_id for c in frame.cameras] == [f"00/image_2/{k:06d}",
                                                      f"00/image_3/{k:06d}"]
        for cam, P, image in zip(frame.cameras, (P2, P3), data["images"][k], strict=True):
            np.testing.assert_array_equal(cam.image, image)
            np.testing.assert_array_equal(cam.K, P[:, :3])
            # K @ T_cam_lidar reproduces the KITTI projection P @ Tr exactly (baseline inside).
            np.testing.assert_allclose(cam.K @ cam.T_cam_lidar[:3], P @ Tr, rtol=1e-12, atol=1e-9)
    # SemanticKITTI's 19 classes: car 10 and moving-car 252 -> 1, road 40 -> 9, outlier 1 -> 0.
    frame = frames[0]
    train = frame.train_labels()
    for raw, cls in ((10, 1), (252, 1), (40, 9), (1, 0), (0, 0), (81, 19), (254, 6)):
        assert np.all(train[frame.labels == raw] == cls) and (frame.labels == raw).any()
    # Stereo baseline: the image_3 camera sits 0.533 m right of image_2 (x of the camera frame),
    # (-337.2877 - 607.1928 * 0.004915215 - 45.38225 + 607.1928 * 0.003779761) / 718.856.
    shift = frames[0].cameras[1].T_cam_lidar[:3, 3] - frames[0].cameras[0].T_cam_lidar[:3, 3]
    assert shift[0] == pytest.approx(-0.5332909, abs=1e-6)
    np.testing.assert_allclose(shift[1:], [0.0031604, 0.0011355], atol=1e-6)


def test_splits_and_auto_map(tmp_path) -> None:
    root = tmp_path / "sk"
    _write_real(root, "08", n_frames=2)
    _write_real(root, "00", n_frames=1)
    assert KittiSource(root, sequences="val", cameras=()).sequences == ["08"]
    assert KittiSource(root, cameras=()).sequences == ["00", "08"]
    with pytest.raises(DatasetError, match=r"sequences \['01', '02'.*no velodyne.*\['00', '08'\]"):
        KittiSource(root, sequences="train")
    with pytest.raises(DatasetError, match="'trainval' is neither a split"):
        KittiSource(root, sequences="trainval")
    listing = tmp_path / "mine.txt"
    listing.write_text("# a sequence-list file\n08\n")
    assert KittiSource(root, sequences=listing, cameras=()).sequences == ["08"]
    with pytest.raises(DatasetError, match=r"exactly one \*.yaml.*found \[\]"):
        KittiSource(root, label_map="auto")
    with pytest.raises(DatasetError, match="image_4"):
        KittiSource(root, cameras=("image_4",))
    with pytest.raises(DatasetError, match="no such directory"):
        KittiSource(tmp_path / "nothing")


# ------------------------------------------------------------------------------------ bad input --

def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-3])


def _nan_point(path: Path) -> None:
    points = np.fromfile(path, dtype=np.float32)
    points[5] = np.nan
    points.tofile(path)


def _replace_line(path: Path, start: str, new: str | None) -> None:
    lines = [line for line in path.read_text().splitlines() if not line.startswith(start)]
    path.write_text("\n".join(lines + ([new] if new else [])) + "\n")


CASES = {
    # name: (edit of sequence dir, error pattern, skip reason, frames skipped, at load time)
    "truncated_bin": (lambda s: _truncate(s / "velodyne/000001.bin"),
                      r"000001\.bin: 6397 bytes is not a multiple of 16", "truncated_points", 1,
                      False),
    "label_count": (lambda s: _truncate(s / "labels/000002.label"),
                    r"000002\.label: 1597 bytes for the 400 points", "label_count", 1, False),
    "missing_label": (lambda s: (s / "labels/000000.label").unlink(),
                      r"000000\.label: missing", "missing_labels", 1, False),
    "missing_image": (lambda s: (s / "image_2/000001.png").unlink(),
                      r"image_2/000001\.png: missing", "missing_image", 1, False),
    "missing_calib": (lambda s: (s / "calib.txt").unlink(),
                      r"calib\.txt: cannot read calibration", "calibration", 3, False),
    "invalid_calib": (lambda s: _replace_line(s / "calib.txt", "P1", "P1: 1 2 x"),
                      r"calib\.txt:5: 'P1: 1 2 x' is not 'KEY: <12 finite numbers>'",
                      "calibration", 3, False),
    "no_P2": (lambda s: _replace_line(s / "calib.txt", "P2", None),
              r"calib\.txt: lacks \['P2'\]", "calibration", 3, False),
    "no_Tr": (lambda s: _replace_line(s / "calib.txt", "Tr", None),
              r"calib\.txt: lacks \['Tr'\]", "calibration", 3, False),
    "poses_count": (lambda s: _replace_line(s / "poses.txt", "1", None),
                    r"poses\.txt: 2 poses for the 3 scans", "poses", 3, False),
    "missing_poses": (lambda s: (s / "poses.txt").unlink(), r"poses\.txt: cannot read poses",
                      "poses", 3, False),
    "times_count": (lambda s: (s / "times.txt").write_text("0\n0.1\n0.2\n0.3\n"),
                    r"times\.txt: 4 times for the 3 scans", "times", 3, False),
    "bad_image": (lambda s: (s / "image_2/000001.png").write_bytes(b"not a png"),
                  r"image_2/000001\.png: cannot decode", "bad_image", 1, True),
    "nan_points": (lambda s: _nan_point(s / "velodyne/000002.bin"),
                   r"000002\.bin: 1 of 400 points have NaN/inf", "bad_points", 1, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, real, caplog) -> None:
    root, _ = real
    edit, pattern, reason, count, at_load = CASES[case]
    edit(root / "sequences" / "00")
    if at_load:
        source = KittiSource(root)
        with pytest.raises(DatasetError, match=pattern):
            list(source)
    else:
        with pytest.raises(DatasetError, match=pattern):
            KittiSource(root)
    with caplog.at_level(logging.WARNING, logger="seal_train.sources.kitti"):
        source = KittiSource(root, on_error="skip")
        frames = list(source)
    assert source.skipped == {reason: count}
    assert len(frames) == 3 - count
    assert any(r.message.startswith("skipping") and reason in str(source.skipped)
               for r in caplog.records)
    assert all(np.isfinite(f.points).all() for f in frames)


def test_load_time_errors_raise_from_getitem(real) -> None:
    root, _ = real
    _nan_point(root / "sequences/00/velodyne/000000.bin")
    source = KittiSource(root, on_error="skip")
    with pytest.raises(DatasetError, match="NaN/inf"):
        source[0]
    assert source[1].frame_id == "00/000001"


# -------------------------------------------------------------------------- the synthetic drive --

def test_synthetic_drive_round_trip(tmp_path) -> None:
    drive = pytest.importorskip("seal_train.synth.drive")
    config = drive.SynthConfig(scenes=1, frames=2, image_width=64, image_height=32,
                               lidar_beams=8, lidar_azimuth_steps=128)
    scene = drive.generate_scene(config, 0)
    root = write_kitti([scene], tmp_path / "kitti")
    source = KittiSource(root, label_map="auto")
    assert len(source) == 2
    for frame, item in zip(source, scene.frames, strict=True):
        synth = item.frame
        front = synth.cameras[0]
        assert front.name == "CAM_FRONT"
        np.testing.assert_array_equal(frame.points, synth.points[:, :4])
        np.testing.assert_array_equal(frame.labels, synth.labels)
        np.testing.assert_array_equal(frame.instances, synth.instances)
        assert frame.stamp_ns == synth.stamp_ns
        np.testing.assert_allclose(frame.T_world_lidar, synth.T_world_lidar, rtol=0, atol=1e-9)
        np.testing.assert_allclose(frame.cameras[0].T_cam_lidar, front.T_cam_lidar, rtol=0,
                                   atol=1e-9)
        np.testing.assert_array_equal(frame.cameras[0].image, front.image)
        np.testing.assert_array_equal(frame.cameras[0].instance_mask, front.instance_mask)
        np.testing.assert_array_equal(frame.train_labels(), synth.train_labels())


def test_lidar_only_download_opens_without_images(real) -> None:
    """velodyne + labels without image folders (a common download): frames without cameras."""
    root, data = real
    for cam in ("image_2", "image_3"):
        shutil.rmtree(root / "sequences" / "00" / cam)
    source = KittiSource(root)
    assert source.cameras == ()
    frames = list(source)
    assert len(frames) == 3 and all(len(f.cameras) == 0 for f in frames)
    np.testing.assert_array_equal(frames[1].points, data["points"][1])
    assert frames[1].labels is not None and frames[1].labels.shape == (400,)
    with pytest.raises(DatasetError, match="image_2"):
        list(KittiSource(root, cameras=("image_2",)))  # asked for explicitly: an error
