"""Label-efficient splits follow SLidR's rules: counts, which frames, deterministic; clear errors
name the setting."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from seal_ros.errors import ConfigError
from seal_train.sources.label_splits import (
    RATIOS,
    frame_stride,
    label_split,
    read_frame_list,
    scene_stride,
    write_frame_list,
)
from seal_train.sources.nuscenes import ORACLE_DIR, NuScenesSource
from seal_train.synth import SynthConfig
from seal_train.synth.formats import write_drive


class IdsOnly:
    """A FrameSource whose frames are never loaded: ids are all a split needs."""

    def __init__(self, ids: list[str]) -> None:
        self.frame_ids = ids

    def __len__(self) -> int:
        return len(self.frame_ids)

    def __getitem__(self, index: int) -> str:
        return self.frame_ids[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.frame_ids)


def test_nuscenes_scene_rule_keeps_every_nth_of_700_train_scenes() -> None:
    scenes = [f"scene-{i:04d}" for i in range(700)]
    counts = {name: len(scene_stride(scenes, n)) for name, n in RATIOS.items()}
    assert counts == {"1%": 7, "5%": 35, "10%": 70, "25%": 175, "100%": 700}
    # SLidR's counter starts at 1: the 100th, 200th, ... scene, not the first
    assert scene_stride(scenes, 100) == [f"scene-{i:04d}" for i in range(99, 700, 100)]


def test_kitti_frame_rule_takes_sorted_frames_from_the_first() -> None:
    lengths = {"00": 4541, "01": 1101, "02": 4661, "03": 801, "04": 271, "05": 2761,
               "06": 1101, "07": 1101, "09": 1591, "10": 1201}  # SemanticKITTI train: 19,130
    ids = [f"{seq}/{i:06d}" for seq, n in reversed(lengths.items()) for i in range(n)]
    rows = frame_stride(ids, 100)
    assert len(rows) == 192
    kept = sorted(ids[r] for r in rows)
    assert kept[:2] == ["00/000000", "00/000100"] and kept[-1] == "10/001171"
    assert rows == sorted(rows)  # in the source's order
    assert frame_stride(ids, 100) == rows  # deterministic


def test_frame_stride_on_other_sources_and_the_list_file_round_trip(tmp_path: Path) -> None:
    source = IdsOnly([f"lidar/{t}" for t in (30, 10, 20, 40, 50)])
    split = label_split(source, "25%")  # type: ignore[arg-type]
    assert split.frame_ids == ["lidar/30", "lidar/50"]  # [::4] in recorded order
    assert split.rule == "25%: every 4th of 5 train frames: 2 frames"
    listed = write_frame_list(tmp_path / "frames.txt", split)
    assert read_frame_list(listed) == ["lidar/30", "lidar/50"]
    again = label_split(source, str(listed))  # type: ignore[arg-type]
    assert again.frame_ids == split.frame_ids and again.frames.indices == [0, 4]


def test_bad_labels_name_the_setting(tmp_path: Path) -> None:
    source = IdsOnly(["a", "b"])
    with pytest.raises(ConfigError, match=r"labels='3%': expected one of 1%, 5%, 10%, 25%, 100%"):
        label_split(source, "3%")  # type: ignore[arg-type]
    listed = tmp_path / "ids.txt"
    listed.write_text("# mine\na\nz\n")
    with pytest.raises(ConfigError, match=r"1 of 2 frame ids are not in the training split"):
        label_split(source, str(listed))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="label_unit=scene needs a nuScenes dataset"):
        label_split(source, "1%", "scene")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def five_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five one-frame scenes in nuScenes format, without the synthetic drive's oracle folder:
    read like real nuScenes."""
    config = SynthConfig(image_width=64, image_height=36, lidar_azimuth_steps=256)
    root = write_drive(tmp_path_factory.mktemp("drive"), scenes=5, frames=1, seed=1,
                       formats=("nuscenes",), config=config)["nuscenes"]
    shutil.rmtree(root / ORACLE_DIR)
    return root


def test_nuscenes_keeps_whole_scenes_and_says_when_none_is_left(five_scenes: Path) -> None:
    source = NuScenesSource(five_scenes, "v1.0-mini", "all", load_images=False)
    split = label_split(source, "25%")
    assert split.frames.indices == [3] and "1 scenes, 1 frames" in split.rule
    assert [source.frame_scenes[i] for i in split.frames.indices] == ["scene-0003"]
    assert len(label_split(source, "100%").frames) == 5
    with pytest.raises(ConfigError, match=r"labels=10% keeps every 10th of the 5 train scenes "
                                          r"\(SLidR's nuScenes rule\): 0 scenes"):
        label_split(source, "10%")
    assert label_split(source, "10%", "frame").frames.indices == [0]  # the way out it names


def test_kitti_source_is_split_by_sorted_frame_id(tmp_path: Path) -> None:
    from seal_train.sources.kitti import KittiSource

    config = SynthConfig(image_width=64, image_height=36, lidar_azimuth_steps=256)
    root = write_drive(tmp_path, scenes=2, frames=3, seed=2, formats=("kitti",),
                       config=config)["kitti"]
    source = KittiSource(root, ["01", "00"], label_map="auto", load_images=False)
    split = label_split(source, "25%")
    assert split.frame_ids == ["01/000001", "00/000000"]  # sorted ids [::4], in source order
    assert split.rule == "25%: every 4th of 6 train frames sorted by id: 2 frames"
