"""The nuScenes-C loader on a tiny fake release written in Robo3D's layout, per corruption."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from seal_ros.errors import DatasetError
from seal_train.robustness import Corruption, load_nuscenes_c, nuscenes_c_paths
from seal_train.sources.frame import Frame
from seal_train.synth import SynthConfig, generate_scene

TOKEN = "3e8750f331d7499e9b5123e9eb70f2e2"
STAMP_US = 1533151603547590
NAME = f"n015-2018-08-02-17-16-37+0800__LIDAR_TOP__{STAMP_US}.pcd.bin"


@pytest.fixture(scope="module")
def frame() -> Frame:
    """A synthetic scan dressed as a nuScenes keyframe (token id, LIDAR_TOP file name)."""
    scene = generate_scene(SynthConfig(scenes=1, frames=1, image_width=64, image_height=36), 0)
    return dataclasses.replace(scene.frames[0].frame, frame_id=TOKEN, cameras=(),
                               stamp_ns=STAMP_US * 1000,
                               extras={"lidar_filename": f"samples/LIDAR_TOP/{NAME}"})


def _write(root: Path, corruption: str, severity: str, points: np.ndarray,
           labels: np.ndarray | None = None, name: str = NAME) -> Path:
    """One scan as Robo3D's scripts save it: <root>/<c>/<s>/samples/LIDAR_TOP/<name> (+ labels)."""
    folder = root / corruption / severity
    (folder / "samples/LIDAR_TOP").mkdir(parents=True, exist_ok=True)
    path = folder / "samples/LIDAR_TOP" / name
    points.astype(np.float32).tofile(path)
    if labels is not None:
        (folder / "lidarseg/v1.0-trainval").mkdir(parents=True, exist_ok=True)
        labels.astype(np.uint8).tofile(folder / f"lidarseg/v1.0-trainval/{TOKEN}_lidarseg.bin")
    return path


def _released(frame: Frame, corruption: Corruption) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points, raw labels, expected source) the way Robo3D's script for ``corruption`` would
    leave them (order, markers, snow's flag column)."""
    points, labels = frame.points.copy(), frame.labels.astype(np.int64)
    n = len(points)
    ring = np.round(points[:, 4]).astype(np.int64)
    rows = np.arange(n)
    if corruption is Corruption.MOTION_BLUR:
        points[:, :3] += np.float32(0.13)
        return points, labels, rows
    if corruption in (Corruption.FOG, Corruption.CROSSTALK):
        moved = rows % 17 == 0
        points[moved, :3] *= np.float32(0.3)
        labels[moved] = 41 if corruption is Corruption.FOG else 43
        return points, labels, np.where(moved, -1, rows)
    if corruption is Corruption.BEAM_MISSING:
        keep = rows[~np.isin(ring, [3, 7, 20])]
    elif corruption is Corruption.CROSS_SENSOR:
        keep = rows[ring % 2 == 0][::2]
    elif corruption is Corruption.INCOMPLETE_ECHO:
        keep = rows[rows % 5 != 0]
    elif corruption is Corruption.WET_GROUND:  # non-ground first, then the kept ground points
        is_ground = points[:, 2] < -1.6
        keep = np.r_[rows[~is_ground], rows[is_ground & (rows % 3 != 0)]]
    else:  # snow: some dropped, some replaced by flakes; column 5 = Robo3D's 0 / 1 / 2 flag
        keep = rows[rows % 7 != 0]
        flake = keep[keep % 11 == 0]
        points[flake, :3] *= np.float32(0.1)
        labels[flake] = 42
        points[:, 4] = np.where(rows % 11 == 0, 2.0, 1.0)
        source = np.where(np.isin(keep, flake), -1, keep)
        return points[keep], labels[keep], source
    return points[keep], labels[keep], keep


@pytest.mark.parametrize("with_labels", [True, False], ids=["labels", "no_labels"])
@pytest.mark.parametrize("corruption", list(Corruption))
def test_released_scan_round_trips_with_its_clean_rows(tmp_path: Path, frame: Frame,
                                                       corruption: Corruption,
                                                       with_labels: bool) -> None:
    """Rows found with and without the label file (its 41 / 42 / 43 markers)."""
    points, labels, expected = _released(frame, corruption)
    _write(tmp_path, corruption.value, "moderate", points, labels if with_labels else None)
    scan = load_nuscenes_c(tmp_path, corruption, "moderate", frame)
    assert scan.channels == ("x", "y", "z", "intensity", "ring")
    assert np.array_equal(scan.source, expected)
    assert np.array_equal(scan.points[:, :4], points[:, :4])
    # rings are the clean ones (snow's flag column replaced; a flake keeps its beam's ring)
    origin = expected  # the clean row each released row was made from
    if corruption in (Corruption.FOG, Corruption.CROSSTALK):
        origin = np.arange(len(frame.points))
    elif corruption is Corruption.SNOW:
        origin = np.flatnonzero(np.arange(len(frame.points)) % 7 != 0)
    assert np.array_equal(scan.points[:, 4], frame.points[origin, 4])
    mapped = scan.labels_from(frame.train_labels())
    assert (mapped[scan.injected] == 0).all()


def test_loader_finds_the_file_by_timestamp_without_extras(tmp_path: Path, frame: Frame) -> None:
    bare = dataclasses.replace(frame, extras={})
    _write(tmp_path, "beam_missing", "light", frame.points)
    assert len(load_nuscenes_c(tmp_path, "beam_missing", "light", bare)) == len(frame.points)
    _write(tmp_path, "beam_missing", "light", frame.points, name=f"other__LIDAR_TOP__{STAMP_US}"
                                                                 ".pcd.bin")
    with pytest.raises(DatasetError, match=r"2 files match .*lidar_filename"):
        load_nuscenes_c(tmp_path, "beam_missing", "light", bare)
    scan = load_nuscenes_c(tmp_path, "beam_missing", "light", bare, lidar_filename=NAME)
    assert len(scan) == len(frame.points)


def test_missing_folders_and_files_are_named(tmp_path: Path, frame: Frame) -> None:
    with pytest.raises(DatasetError, match=str(tmp_path / "absent")):
        load_nuscenes_c(tmp_path / "absent", "fog", "light", frame)
    _write(tmp_path, "fog", "light", frame.points)
    with pytest.raises(DatasetError, match=rf"{tmp_path / 'snow'}: missing.*\['fog'\]"):
        load_nuscenes_c(tmp_path, "snow", "light", frame)
    with pytest.raises(DatasetError, match=rf"{tmp_path / 'fog' / 'heavy'}: missing.*\['light'\]"):
        load_nuscenes_c(tmp_path, "fog", "heavy", frame)
    other = dataclasses.replace(frame, extras={"lidar_filename": "samples/LIDAR_TOP/nope.pcd.bin"})
    missing = tmp_path / "fog/light/samples/LIDAR_TOP/nope.pcd.bin"
    with pytest.raises(DatasetError, match=rf"{missing}: missing; expected the fog/light scan"):
        load_nuscenes_c(tmp_path, "fog", "light", other)


def test_bad_files_and_foreign_scans_are_refused(tmp_path: Path, frame: Frame) -> None:
    path = _write(tmp_path, "fog", "light", frame.points)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(DatasetError, match="not N x 5 float32"):
        load_nuscenes_c(tmp_path, "fog", "light", frame)
    _write(tmp_path, "fog", "light", frame.points, np.zeros(3))
    with pytest.raises(DatasetError, match=r"3 labels for the \d+ points"):
        load_nuscenes_c(tmp_path, "fog", "light", frame)
    shifted = frame.points.copy()
    shifted[:, 0] += 1.0
    _write(tmp_path, "beam_missing", "heavy", shifted[:100])
    with pytest.raises(DatasetError, match="not a beam_missing corruption of frame"):
        load_nuscenes_c(tmp_path, "beam_missing", "heavy", frame)
    _write(tmp_path, "crosstalk", "heavy", frame.points[:10])
    with pytest.raises(DatasetError, match=r"10 points, the frame has"):
        load_nuscenes_c(tmp_path, "crosstalk", "heavy", frame)
    kitti_like = dataclasses.replace(frame, points=frame.points[:, :4],
                                     channels=("x", "y", "z", "intensity"))
    with pytest.raises(DatasetError, match="needs the nuScenes frame"):
        load_nuscenes_c(tmp_path, "crosstalk", "heavy", kitti_like)


def test_paths_follow_the_released_layout(tmp_path: Path) -> None:
    (tmp_path / "snow/heavy").mkdir(parents=True)
    points, labels = nuscenes_c_paths(tmp_path, "snow", "heavy", f"samples/LIDAR_TOP/{NAME}",
                                      TOKEN)
    assert points == tmp_path / "snow/heavy/samples/LIDAR_TOP" / NAME
    assert labels == tmp_path / f"snow/heavy/lidarseg/v1.0-trainval/{TOKEN}_lidarseg.bin"
