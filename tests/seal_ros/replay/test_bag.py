"""Replay bag input and output: an undecodable message becomes a skip with its topic and stamp;
``--overwrite`` replaces only a previous replay output, never the input or a folder around it."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from rosbags.rosbag2 import StoragePlugin, Writer

from seal_ros.config_files import read_yaml
from seal_ros.errors import CodecReason, ConfigError
from seal_ros.replay.bag import CloudBag, OutputBag, SkippedScan

TOPIC = "/lidar_top/points"
PC2 = "sensor_msgs/msg/PointCloud2"
T0 = 1_700_000_000_000_000_000


def cloud_bytes(h, seed: int, stamp_ns: int) -> bytes:
    msg = h.cloud_message(h.random_scan(200, seed), stamp_ns=stamp_ns)
    return bytes(h.STORE.serialize_cdr(msg, PC2))


def bad_utf8(raw: bytes) -> bytes:
    """``raw`` with the first byte of the PointField name ``intensity`` made invalid UTF-8."""
    at = raw.index(struct.pack("<I", 10) + b"intensity\x00") + 4
    return raw[:at] + b"\xff" + raw[at + 1:]


def write_bag(h, folder: Path, raws: list[bytes], stamps: list[int]) -> Path:
    with Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(TOPIC, PC2, typestore=h.STORE)
        for raw, stamp in zip(raws, stamps, strict=True):
            writer.write(conn, stamp + 1000, raw)  # bag time: received 1 us after the stamp
    return folder


def test_an_undecodable_message_is_yielded_as_a_skip_with_topic_and_stamp(h, tmp_path):
    stamps = [T0 + i * 100_000_000 for i in range(3)]
    raws = [cloud_bytes(h, i, s) for i, s in enumerate(stamps)]
    raws[1] = bad_utf8(raws[1])
    bag = CloudBag(write_bag(h, tmp_path / "bag", raws, stamps), None, h.STORE)
    try:
        items = list(bag.clouds())
    finally:
        bag.close()
    assert [t for t, _ in items] == [s + 1000 for s in stamps]
    skip = items[1][1]
    assert isinstance(skip, SkippedScan)
    assert (skip.topic, skip.stamp_ns, skip.bag_time_ns) == (TOPIC, stamps[1], stamps[1] + 1000)
    assert skip.reason == CodecReason.UNDECODABLE == "undecodable"
    assert "utf-8" in skip.message and PC2 in skip.message
    assert str(skip).startswith(f"{TOPIC} at stamp 1700000000.100000000: undecodable:")
    assert [m.header.stamp.nanosec for _, m in (items[0], items[2])] == [0, 200_000_000]


@pytest.fixture
def recording(h, tmp_path):
    """An input recording (2 clouds) and a previous replay output beside it."""
    stamps = [T0, T0 + 10**8]
    bag = write_bag(h, tmp_path / "drive", [cloud_bytes(h, i, s) for i, s in enumerate(stamps)],
                    stamps)
    previous = OutputBag(tmp_path / "seg", h.STORE, protect=bag)
    previous.write("/seal_segmentation/output/segmentation", PC2,
                   h.cloud_message(h.random_scan(50)), T0)
    previous.close()
    return bag, previous.path


def _listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


def test_output_bag_carries_the_marker_and_overwrite_replaces_only_it(h, recording):
    bag, seg = recording
    info = read_yaml(seg / "metadata.yaml")["rosbag2_bagfile_information"]
    assert info["custom_data"] == {"seal_replay": "output of python -m seal_ros.replay"}
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        OutputBag(seg, h.STORE, protect=bag)
    again = OutputBag(seg, h.STORE, overwrite=True, protect=bag)
    for i in range(3):
        again.write("/seal_segmentation/output/segmentation", PC2,
                    h.cloud_message(h.random_scan(50)), T0 + i)
    again.close()
    assert sorted(p.name for p in seg.iterdir()) == ["metadata.yaml", "seg.mcap"]
    assert read_yaml(seg / "metadata.yaml")["rosbag2_bagfile_information"]["message_count"] == 3
    # an older output without the marker, recognised by its topics alone
    meta = (seg / "metadata.yaml").read_text().replace("seal_replay:", "someone_else:")
    (seg / "metadata.yaml").write_text(meta)
    OutputBag(seg, h.STORE, overwrite=True, protect=bag).close()


def test_overwrite_refuses_the_input_and_anything_not_a_replay_output(h, recording, tmp_path):
    bag, seg = recording
    before = _listing(bag)
    link = tmp_path / "link"
    link.symlink_to(bag)
    refused = {
        bag: "is the input recording",
        link: "is the input recording",  # resolved
        tmp_path / "drive" / ".." / "drive": "is the input recording",
        tmp_path: "contains the input recording",
        bag / "sub": "is inside the input recording",
    }
    for path, why in refused.items():
        for overwrite in (False, True):
            with pytest.raises(ConfigError, match=why) as info:
                OutputBag(path, h.STORE, overwrite=overwrite, protect=bag)
            assert str(info.value).startswith(f"{path}: ")
    assert _listing(bag) == before

    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "todo.txt").write_text("keep me")
    plain_file = tmp_path / "file.mcap"
    plain_file.write_bytes(b"not a folder")
    copy = shutil.copytree(bag, tmp_path / "copy")  # a rosbag2 folder the replay did not write
    (seg / "mine.txt").write_text("keep me")  # a replay output someone added a file to
    cases = {unrelated: "it has no metadata.yaml", plain_file: "it is not a folder",
             copy: r"its metadata.yaml has no seal_replay marker and its topics "
                   r"\['/lidar_top/points'\]",
             seg: r"it holds files the replay does not write: \['mine.txt'\]"}
    for path, why in cases.items():
        kept = _listing(path) if path.is_dir() else {"": path.stat().st_size}
        with pytest.raises(ConfigError, match=f"only a previous replay output, but {why}"):
            OutputBag(path, h.STORE, overwrite=True, protect=bag)
        assert (_listing(path) if path.is_dir() else {"": path.stat().st_size}) == kept
    assert (unrelated / "todo.txt").read_text() == "keep me"
