"""The synthetic drive written as nuScenes, SemanticKITTI and rosbag2 comes back as the same Frames
through the three readers, and `data inspect` reads every format."""

from __future__ import annotations

import re

import numpy as np
import pytest

from seal_ros.core.projection import project_points
from seal_train.__main__ import main
from seal_train.sources import project
from seal_train.sources.detect import SourceKind, detect, open_source
from seal_train.synth.formats import write_drive


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    out = tmp_path_factory.mktemp("drive")
    paths = write_drive(out, scenes=1, frames=3, seed=7)
    return {fmt: open_source(path) for fmt, path in paths.items()}, paths


def _cameras(frame):
    """Camera views by a format-neutral name (CAM_FRONT, cam_front and image_2 alike)."""
    return {("cam_front" if c.name == "image_2" else c.name.lower()): c for c in frame.cameras}


def test_formats_are_detected(drive):
    _, paths = drive
    assert {fmt: detect(path) for fmt, path in paths.items()} == {
        "nuscenes": SourceKind.NUSCENES, "kitti": SourceKind.KITTI, "rosbag": SourceKind.ROSBAG}


def test_three_formats_give_equal_frames(drive):
    sources, _ = drive
    nus, kitti, bag = (list(sources[f]) for f in ("nuscenes", "kitti", "rosbag"))
    assert len(nus) == len(kitti) == len(bag) == 3
    for a, b, c in zip(nus, kitti, bag, strict=True):
        assert a.stamp_ns == b.stamp_ns == c.stamp_ns
        for other in (b, c):
            np.testing.assert_array_equal(other.xyz, a.xyz)
            np.testing.assert_array_equal(other.channel("intensity"), a.channel("intensity"))
            np.testing.assert_array_equal(other.labels, a.labels)
            np.testing.assert_array_equal(other.train_labels(), a.train_labels())
            np.testing.assert_array_equal(other.instances, a.instances)
            np.testing.assert_allclose(other.T_world_lidar, a.T_world_lidar, atol=1e-6)
        cams_a, cams_b, cams_c = _cameras(a), _cameras(b), _cameras(c)
        assert len(cams_a) == len(cams_c) == 6 and set(cams_b) == {"cam_front"}
        for name, cam in cams_a.items():
            for others in (cams_b, cams_c):
                if name not in others:
                    continue
                np.testing.assert_allclose(others[name].T_cam_lidar, cam.T_cam_lidar, atol=1e-6)
                np.testing.assert_array_equal(others[name].K, cam.K)
                np.testing.assert_array_equal(others[name].instance_mask, cam.instance_mask)
        for name, cam in cams_a.items():  # projections equal camera by camera
            ref = project_points(a.xyz, cam.K, cam.T_cam_lidar, cam.height, cam.width)
            for frame, cams in ((b, cams_b), (c, cams_c)):
                if name in cams:
                    got = project_points(frame.xyz, cams[name].K, cams[name].T_cam_lidar,
                                         cams[name].height, cams[name].width)
                    _assert_same_pixels(got, ref, a.xyz, cam)


def _assert_same_pixels(got, ref, xyz, cam):
    """Equal pairs, except that a point exactly on a pixel border (a 1e-16 transform difference
    decides its side) may move by one pixel: the synthetic LiDAR has rays in the camera's centre
    column plane, which lands them on u = cx = (W - 1) / 2 exactly."""
    np.testing.assert_array_equal(got[0], ref[0])
    cam_xyz = xyz[ref[0]].astype(np.float64) @ cam.T_cam_lidar[:3, :3].T + cam.T_cam_lidar[:3, 3]
    uv = (cam_xyz @ cam.K.T)[:, :2] / (cam_xyz @ cam.K.T)[:, 2:]
    on_border = np.abs(uv - np.floor(uv) - 0.5) < 1e-9  # (P, 2): u, v on a pixel border
    for axis, (g, r) in enumerate(((got[2], ref[2]), (got[1], ref[1]))):  # col <-> u, row <-> v
        moved = g != r
        assert np.all(on_border[moved, axis]) and np.all(np.abs(g - r)[moved] == 1)
        assert moved.mean() < 0.01


def test_projected_points_land_on_their_own_instance(drive):
    """The calibration chain read back from disk puts >= 98 % of points on their own segment."""
    sources, _ = drive
    hits = total = 0
    for frame in sources["nuscenes"]:
        pairs = project(frame)
        masks = np.stack([cam.instance_mask for cam in frame.cameras])
        seen = masks[pairs.camera_index, pairs.row, pairs.col]
        hits += int((seen == frame.instances[pairs.point_index]).sum())
        total += len(pairs)
    assert total > 20_000
    assert hits / total >= 0.98, f"only {100 * hits / total:.2f} % on their own instance"


@pytest.mark.parametrize("fmt", ["nuscenes", "kitti", "rosbag"])
def test_data_inspect_reads_every_format(drive, fmt, tmp_path, capsys):
    _, paths = drive
    assert main(["data", "inspect", str(paths[fmt]), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "frames: 3 in 1 sequences" in out
    share = float(re.search(r"calibration: ([\d.]+) % of points", out).group(1))
    assert share > (10.0 if fmt == "kitti" else 60.0)  # KITTI format keeps the front camera only
    assert "driveable_surface" in out
    assert (tmp_path / "birds_eye.png").is_file()
    assert len(list(tmp_path.glob("*_labels.png"))) == (1 if fmt == "kitti" else 6)


def test_split_names_select_held_out_scenes_in_both_dataset_formats(tmp_path):
    """open_split: the drive's own train / val lists select scenes (nuScenes) and sequences
    (SemanticKITTI) alike, disjoint, val the last scene; a bag has no splits."""
    from seal_train.sources import open_split  # the package exports it

    paths = write_drive(tmp_path, scenes=2, frames=1, seed=3, formats=("nuscenes", "kitti"))
    for fmt in ("nuscenes", "kitti"):
        train, val = open_split(paths[fmt], "train"), open_split(paths[fmt], "val")
        whole = open_split(paths[fmt])
        assert len(train) == len(val) == 1 and len(whole) == 2, fmt
        assert not set(train.frame_ids) & set(val.frame_ids)
        assert set(train.frame_ids) | set(val.frame_ids) == set(whole.frame_ids)
        assert val[0].stamp_ns == whole[1].stamp_ns  # the last scene
