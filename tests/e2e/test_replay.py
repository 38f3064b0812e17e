"""``python -m seal_ros.replay`` on synthetic-drive bags: readable output bag, mIoU equal to an
independent recomputation, latency percentiles, drops at a real-time rate, sqlite3 and ROS 1; bad
input: malformed and undecodable scans skipped and counted, a truncated recording read up to the
damage, ``--overwrite`` refused on the input and on what the replay did not write."""

from __future__ import annotations

import dataclasses
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from seal_ros import interfaces
from seal_ros.core import codec
from seal_ros.errors import ConfigError
from seal_ros.replay import format_summary, main, replay

sys.path.insert(0, str(Path(__file__).parent))  # the e2e helpers beside this file
import node_processes as procs  # noqa: E402

h = procs.node_helpers()
PREFIX = "/seal_segmentation"
CLOUDS = "/lidar_top/points"
PC2 = "sensor_msgs/msg/PointCloud2"


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


def _write_raw_bag(folder: Path, raws: list[tuple[int, bytes]]) -> Path:
    """An MCAP rosbag2 of serialized clouds as given (good or not), ``(bag time, bytes)``."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    store = interfaces.typestore()
    with Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(CLOUDS, PC2, typestore=store)
        for t_ns, raw in raws:
            writer.write(conn, t_ns, raw)
    return folder


def test_replay_skips_a_malformed_and_an_undecodable_scan_and_goes_on(drive, tmp_path, capsys):
    root, bag, package = drive
    store = interfaces.typestore()
    clouds = _read(bag)[CLOUDS][:4]
    stamps = [codec.stamp_to_ns(c.header.stamp) for c in clouds]
    raws = [bytes(store.serialize_cdr(c, PC2)) for c in clouds]
    # scan 1: 7 bytes short of height * row_step (the evaluator decodes it for its labels)
    raws[1] = bytes(store.serialize_cdr(dataclasses.replace(clouds[1],
                                                            data=clouds[1].data[:-7]), PC2))
    # scan 2: the PointField name "intensity" is not valid UTF-8 in the CDR bytes
    at = raws[2].index(struct.pack("<I", 10) + b"intensity\x00") + 4
    raws[2] = raws[2][:at] + b"\xff" + raws[2][at + 1:]
    labels = bag.parent / "labels.yaml"
    bad = _write_raw_bag(tmp_path / "bad", list(zip(stamps, raws, strict=True)))
    good = _write_raw_bag(tmp_path / "good", [(stamps[i], raws[i]) for i in (0, 3)])

    summary = replay(bad, package, engine="gather", label_map=labels, progress=False,
                     overrides={"threads": 1})
    assert (summary.scans, summary.processed, summary.dropped) == (4, 2, 0)
    assert summary.skipped == {"data_length": 1, "undecodable": 1}
    assert [(s.topic, s.stamp_ns, s.reason) for s in summary.skips] == [
        (CLOUDS, stamps[1], "data_length"), (CLOUDS, stamps[2], "undecodable")]
    assert f"{len(clouds[1].data) - 7} bytes" in summary.skips[0].message
    assert "utf-8" in summary.skips[1].message
    # the two good scans score exactly as a bag of only them
    reference = replay(good, package, engine="gather", label_map=labels, progress=False,
                       overrides={"threads": 1})
    assert reference.processed == 2 and reference.evaluated_points > 20_000
    assert summary.evaluated_points == reference.evaluated_points
    assert summary.miou == pytest.approx(reference.miou, abs=1e-12)

    text = format_summary(summary)
    assert "4 scans" in text
    assert "processed 2, dropped 0, skipped 2 (data_length 1, undecodable 1)" in text
    for skip in summary.skips:
        sec, nsec = divmod(skip.stamp_ns, 10**9)
        assert f"  skipped {CLOUDS} at stamp {sec}.{nsec:09d}: {skip.reason}: " in text
    # the CLI prints the same summary and exits 0; at a rate the feeder thread skips the same
    assert main([str(bad), "--model", str(package), "--engine", "gather", "--label-map",
                 str(labels), "--rate", "100", "--no-progress", "--set", "threads=1"]) == 0
    out = capsys.readouterr().out
    assert "4 scans" in out and "skipped 2 (data_length 1, undecodable 1)" in out and "mIoU " in out


def test_replay_reads_a_truncated_recording_up_to_the_damage(drive, tmp_path):
    root, bag, package = drive
    cut_bag = shutil.copytree(bag, tmp_path / "cut")
    (mcap,) = cut_bag.glob("*.mcap")
    data = mcap.read_bytes()
    store = interfaces.typestore()
    with AnyReader([bag], default_typestore=store) as reader:
        conns = [c for c in reader.connections if c.topic == CLOUDS]
        raws = [raw for _, _, raw in reader.messages(conns)]
    ends = [data.index(raw) + len(raw) for raw in raws]  # each cloud's record ends here
    cut = (ends[2] + ends[3]) // 2  # inside the 4th of 6 clouds
    with mcap.open("r+b") as f:
        f.truncate(cut)
    expected = sum(end <= cut for end in ends)
    assert expected == 3

    summary = replay(cut_bag, package, engine="gather", out=tmp_path / "seg", progress=False,
                     label_map=bag.parent / "labels.yaml", overrides={"threads": 1})
    assert (summary.scans, summary.processed) == (3, 3) and summary.miou is not None
    assert summary.recovery is not None
    assert f"of {cut} bytes" in summary.recovery and "is cut off after" in summary.recovery
    assert summary.recovery.endswith(f"3 complete messages on {CLOUDS} of the 6 that "
                                     f"metadata.yaml lists (3 lost)")
    assert f"damaged recording: {summary.recovery}" in format_summary(summary)
    segs = _read(tmp_path / "seg")[f"{PREFIX}/output/segmentation"]
    clouds = _read(bag)[CLOUDS]
    assert [s.header.stamp for s in segs] == [c.header.stamp for c in clouds[:3]]


def test_replay_overwrite_never_touches_the_input_or_an_unrelated_folder(drive, tmp_path):
    root, bag, package = drive
    before = {p.name: p.stat().st_size for p in bag.iterdir()}
    for out in (bag, bag / (bag.name + ".mcap"), bag.parent, bag / "inside"):
        with pytest.raises(ConfigError, match=f"^{re.escape(str(out.with_suffix('')))}: --out "
                           "(is|contains|is inside) the input recording"):
            replay(bag, package, engine="gather", out=out, overwrite=True, progress=False)
    assert {p.name: p.stat().st_size for p in bag.iterdir()} == before
    unrelated = tmp_path / "results"
    unrelated.mkdir()
    (unrelated / "table.csv").write_text("a,b\n")
    with pytest.raises(ConfigError, match="replaces only a previous replay output, but it has no "
                                          "metadata.yaml"):
        replay(bag, package, engine="gather", out=unrelated, overwrite=True, progress=False)
    assert (unrelated / "table.csv").read_text() == "a,b\n"
