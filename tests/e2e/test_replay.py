"""``python -m seal_ros.replay`` on synthetic-drive bags: readable output bag, mIoU equal to an
independent recomputation, latency percentiles, drops at a real-time rate, sqlite3 and ROS 1."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from seal_ros import interfaces
from seal_ros.core import codec
from seal_ros.replay import replay

sys.path.insert(0, str(Path(__file__).parent))  # the e2e helpers beside this file
import node_processes as procs  # noqa: E402

h = procs.node_helpers()
PREFIX = "/seal_segmentation"


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    bag = procs.write_drive_bag(root / "bags", frames=6)
    return root, bag, h.write_package(root / "pkg")


def _read(bag: Path) -> dict[str, list]:
    store = interfaces.typestore()
    out: dict[str, list] = {}
    with AnyReader([bag], default_typestore=store) as reader:
        for conn, _, raw in reader.messages():
            out.setdefault(conn.topic, []).append(reader.deserialize(raw, conn.msgtype))
    return out


def test_replay_cli_writes_a_bag_and_prints_miou_and_latency(drive):
    root, bag, package = drive
    out = root / "seg.mcap"
    proc = subprocess.run(
        [sys.executable, "-m", "seal_ros.replay", str(bag), "--model", str(package),
         "--engine", "gather", "--max-speed", "--out", str(out), "--set", "threads=1"],
        cwd=procs.REPO, env=procs.env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    print(text)
    assert "6 scans" in text and "processed 6, dropped 0, skipped 0" in text
    miou = float(re.search(r"mIoU ([\d.]+) %", text).group(1))
    for stage in ("decode", "voxelize", "kernel_maps", "inference", "labels", "total"):
        assert re.search(rf"^  {stage} +[\d.]+ +[\d.]+ +[\d.]+$", text, re.M), stage
    assert (root / "seg" / "seg.mcap").is_file() and str(root / "seg" / "seg.mcap") in text

    written = _read(root / "seg")
    inputs = _read(bag)["/lidar_top/points"]
    segs = written[f"{PREFIX}/output/segmentation"]
    assert len(segs) == len(written[f"{PREFIX}/output/visualization"]) == 6
    assert len(written[f"{PREFIX}/output/timing"]) == 6
    assert written[f"{PREFIX}/output/info"][0].class_names == list(h.NUSCENES_CLASSES)
    # mIoU recomputed here from the written clouds and the training code's label map
    from seal_ros.labels import LabelMap

    label_map = LabelMap.from_yaml(bag.parent / "labels.yaml")
    cm = np.zeros((17, 17), dtype=np.int64)
    for cloud, seg in zip(inputs, segs, strict=True):
        assert seg.header.stamp == cloud.header.stamp and seg.width == cloud.width
        truth = label_map.to_train(codec.read_field(cloud, "label"))
        pred = codec.read_field(seg, "class_id").astype(np.int64)
        keep = truth > 0
        cm += np.bincount(truth[keep] * 17 + pred[keep], minlength=289).reshape(17, 17)
    tp = np.diag(cm)[1:].astype(float)
    union = (cm.sum(0) + cm.sum(1))[1:] - tp
    expected = np.nanmean(np.where(union > 0, tp / np.maximum(union, 1), np.nan))
    assert cm.sum() > 50_000
    assert miou == pytest.approx(100 * expected, abs=0.006)


def test_replay_at_recorded_speed_drops_scans_when_inference_is_slower(drive):
    root, bag, _ = drive
    slow = h.write_package(root / "slow_pkg", state=h.tiny_state(planes=48))
    summary = replay(bag, slow, engine="gather", rate=40.0, out=root / "fast",
                     overrides={"threads": 1}, progress=False)
    # 6 scans 0.5 s apart at 40x: one every 12.5 ms, far faster than inference
    assert summary.scans == 6 and summary.dropped >= 3
    assert summary.processed + summary.dropped == 6
    assert summary.latency_ms["inference"][0] > 12.5
    assert summary.written[f"{PREFIX}/output/segmentation"] == summary.processed
    assert "40x recorded speed" in summary.mode and summary.miou is not None


def test_replay_reads_sqlite3_and_ros1_bags(drive, tmp_path):
    from rosbags.rosbag1 import Writer as Ros1Writer
    from rosbags.typesys import Stores, get_typestore

    root, bag, package = drive
    clouds = _read(bag)["/lidar_top/points"][:2]
    ros1 = get_typestore(Stores.ROS1_NOETIC)
    path = tmp_path / "drive.bag"
    with Ros1Writer(path) as writer:
        conn = writer.add_connection("/velodyne_points", "sensor_msgs/msg/PointCloud2",
                                     typestore=ros1)
        for cloud in clouds:
            T = ros1.types
            msg = T["sensor_msgs/msg/PointCloud2"](
                header=T["std_msgs/msg/Header"](seq=0, stamp=T["builtin_interfaces/msg/Time"](
                    sec=cloud.header.stamp.sec, nanosec=cloud.header.stamp.nanosec),
                    frame_id="velodyne"),
                height=cloud.height, width=cloud.width,
                fields=[T["sensor_msgs/msg/PointField"](name=f.name, offset=f.offset,
                                                        datatype=f.datatype, count=f.count)
                        for f in cloud.fields],
                is_bigendian=cloud.is_bigendian, point_step=cloud.point_step,
                row_step=cloud.row_step, data=cloud.data, is_dense=cloud.is_dense)
            writer.write(conn, codec.stamp_to_ns(cloud.header.stamp),
                         ros1.serialize_ros1(msg, "sensor_msgs/msg/PointCloud2"))
    summary = replay(path, package, engine="gather", label_map=bag.parent / "labels.yaml",
                     progress=False)
    assert (summary.topic, summary.processed) == ("/velodyne_points", 2)
    assert summary.evaluated_points > 20_000

    from seal_train.synth import SynthConfig, generate_scene
    from seal_train.synth.rosbag_writer import write_rosbag

    config = SynthConfig(scenes=1, frames=2, image_width=96, image_height=54,
                         lidar_azimuth_steps=512)
    (sqlite,) = write_rosbag([generate_scene(config, 0)], tmp_path / "sqlite", storage="sqlite3")
    summary = replay(sqlite, package, engine="gather", out=tmp_path / "out", progress=False)
    assert summary.processed == 2 and summary.miou is not None
    assert list((tmp_path / "out").glob("*.mcap"))


def test_replay_errors_name_what_is_wrong(drive, tmp_path):
    root, bag, package = drive
    from seal_ros.errors import SealError

    with pytest.raises(SealError, match="no topic '/nope'"):
        replay(bag, package, engine="gather", topic="/nope", progress=False)
    with pytest.raises(SealError, match="no such bag"):
        replay(tmp_path / "missing", package, engine="gather", progress=False)
    (tmp_path / "taken").mkdir()
    with pytest.raises(SealError, match="exists; pass --overwrite"):
        replay(bag, package, engine="gather", out=tmp_path / "taken", progress=False)
    proc = subprocess.run([sys.executable, "-m", "seal_ros.replay", "--help"], cwd=procs.REPO,
                          env=procs.env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--max-speed" in proc.stdout and "--label-map" in proc.stdout
