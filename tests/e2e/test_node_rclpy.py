"""Real ROS 2: the rclpy node process and the ROS-free DDS node, each driven by a real rclpy node.

A peer process (``rclpy_peer.py``: rclpy on Fast DDS) publishes synthetic-drive clouds, camera
images, camera infos and ``/tf_static``; the node segments them; the peer records what arrived.
The labels equal offline inference byte for byte in CDR, every output arrives (segmentation,
visualization, filtered, the camera overlay, timing, latched info, ``/diagnostics``), and
parameters set from a params file take effect (the filter, the diagnostics limits, the camera).

- ``seal_ros.adapters.rclpy_node`` (what ``ros2 run seal_ros seal_segmentation`` starts) on rclpy:
  everything ROS 2 to ROS 2, with native ``seal_msgs`` and ``tf2_msgs`` types.
- ``python -m seal_ros.node`` on cyclonedds with the same peer: rclpy publishes what the DDS
  transport receives, and rclpy receives what it publishes (Fast DDS <-> Cyclone, both ways).

Every process runs on loopback (``seal_ros.adapters.loopback.loopback_env``) in its own domain.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from seal_ros import interfaces
from seal_ros.core import codec, output_clouds
from seal_ros.model_package import ModelPackage

sys.path.insert(0, str(Path(__file__).parent))  # the e2e helpers beside this file
import node_processes as procs  # noqa: E402

pytest.importorskip("rclpy", reason="the [ros] extra (ROS 2 Kilted wheels) is part of install.sh")

h = procs.node_helpers()
STORE = interfaces.typestore()
PEER = Path(__file__).with_name("rclpy_peer.py")
PREFIX = "/seal_segmentation"
CAMERA = "cam_front"


@pytest.fixture
def domain_id(request):
    return procs.test_domain(request, salt=43)


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    """A 3-frame drive bag, the tiny package, offline segmentation of every cloud and the
    parameter file both nodes read (the filter removes the commonest class of the first scan)."""
    root = tmp_path_factory.mktemp("node_rclpy")
    bag = procs.write_drive_bag(root / "bags", frames=3)
    package = h.write_package(root / "pkg")
    clouds = procs.read_clouds(bag)
    expected = [procs.offline_segmentation(h, h.tiny_state(), m) for m in clouds]
    first = codec.decode(expected[0])["class_id"]
    common = int(np.bincount(first).argmax())
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "model_path": str(package), "engine": "gather", "threads": 1, "queue_size": 5,
        "filter": {"classes": [h.NUSCENES_CLASSES[common]], "probability_threshold": 0.0},
        "diagnostics": {"max_allowed_processing_time_ms": 0.5,
                        "max_acceptable_consecutive_delay_ms": 1000.0, "period_ms": 200.0},
        "cameras": {"names": [CAMERA], "max_delay_ms": 1000.0}}}}))
    return bag, package, clouds, expected, common, params


def _read(folder: Path, msgtype: str) -> list:
    files = sorted(folder.glob("*.cdr"), key=lambda p: int(p.stem))
    return [STORE.deserialize_cdr(p.read_bytes(), msgtype) for p in files]


PEER_DEADLINE_S = 150  # the peer always exits by then, saying what had not arrived


def _run_peer(bag: Path, out: Path, domain: int) -> procs.Process:
    return procs.Process([str(PEER), str(bag), "--out", str(out), "--node", PREFIX,
                          "--cameras", CAMERA, "--interval-ms", "1500",
                          "--deadline-s", str(PEER_DEADLINE_S)], domain=domain)


def _check_outputs(out: Path, package: Path, clouds, expected, common: int, sent: int) -> None:
    """Everything the peer recorded, against offline inference and the parameter file. The peer
    waits for each cloud's three output clouds (best effort: it resends a cloud that got none)."""
    cloud_type = "sensor_msgs/msg/PointCloud2"
    segs = _read(out / "segmentation", cloud_type)
    assert {(s.header.stamp.sec, s.header.stamp.nanosec) for s in segs} == \
        {(c.header.stamp.sec, c.header.stamp.nanosec) for c in clouds}
    want = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in expected}
    for seg in segs:
        ref = want[(seg.header.stamp.sec, seg.header.stamp.nanosec)]
        assert bytes(STORE.serialize_cdr(seg, cloud_type)) == \
            bytes(STORE.serialize_cdr(ref, cloud_type))  # labels and probabilities, every bit
        assert seg.width > 10_000
    labels = {(s.header.stamp.sec, s.header.stamp.nanosec): codec.decode(s)["class_id"]
              for s in segs}
    palette = np.asarray(ModelPackage.load(package).palette, dtype=np.uint8)
    for vis in _read(out / "visualization", cloud_type):
        rgb = output_clouds.unpack_rgb(codec.decode(vis)["rgb"])
        np.testing.assert_array_equal(
            rgb, palette[labels[(vis.header.stamp.sec, vis.header.stamp.nanosec)]])
    for msg in _read(out / "filtered", cloud_type):
        class_id = labels[(msg.header.stamp.sec, msg.header.stamp.nanosec)]
        source = next(c for c in clouds if c.header.stamp == msg.header.stamp)
        assert msg.point_step == source.point_step  # the input layout
        assert msg.width == int((class_id != common).sum()) < source.width  # filter.classes
    overlays = _read(out / f"{CAMERA}_overlay", "sensor_msgs/msg/Image")
    assert overlays, "no overlay image arrived"
    assert all(o.encoding == "rgb8" and o.width == 96 and o.height == 54 for o in overlays)
    timings = _read(out / "timing", "seal_msgs/msg/SegmentationTiming")  # reliable: one a scan
    assert len(timings) == sent
    assert all(t.stage_names[:5] == ["decode", "voxelize", "kernel_maps", "inference", "labels"]
               for t in timings)
    (info, *_) = _read(out / "info", "seal_msgs/msg/SegmentationInfo")
    assert list(info.class_names) == list(h.NUSCENES_CLASSES) and info.ignore_id == 0
    statuses = [s for a in _read(out / "diagnostics", "diagnostic_msgs/msg/DiagnosticArray")
                for s in a.status if s.name.endswith("processing_time")]
    levels = {int(s.level) for s in statuses}
    # max_allowed_processing_time_ms 0.5: every scan is over it, the first one WARN; scans 1.5 s
    # apart stay over it for longer than max_acceptable_consecutive_delay_ms 1000: ERROR.
    assert {1, 2} <= levels, sorted({(s.level, s.message[:60]) for s in statuses})
    assert any(s.level == 1 and "max_allowed_processing_time_ms 0.5)" in s.message
               for s in statuses)
    assert any(s.level == 2 and "max_acceptable_consecutive_delay_ms 1000)" in s.message
               for s in statuses)


def _finish(node: procs.Process, peer: procs.Process, clouds) -> int:
    """Wait for the peer, stop the node; the number of clouds the peer sent (resends included)."""
    try:
        peer_rc = peer.proc.wait(timeout=PEER_DEADLINE_S + 30)
    except subprocess.TimeoutExpired:
        peer.kill()
        peer_rc = None
    rc = node.stop(signal.SIGINT)
    events = [json.loads(line) for line in peer.stdout if line.startswith("{")]
    assert peer_rc == 0, (peer_rc, events[-8:], "".join(peer.stderr)[-2000:],
                          "".join(node.stderr)[-3000:])
    assert rc == 0, "".join(node.stderr)[-4000:]
    sent = events[-1]["sent"]
    assert len(clouds) <= sent <= len(clouds) + 2, events[-1]  # a resend is rare
    summary = next(line for line in node.stdout if line.startswith("stopped:"))
    assert f"received {sent}, processed {sent}, dropped 0" in summary, summary
    return sent


def _drive(node_args: list[str], drive, domain: int, out: Path) -> procs.Process:
    """Start a node, let the peer drive it, stop it, check everything recorded; the node."""
    bag, package, clouds, expected, common, _ = drive
    node = procs.Process(node_args, domain=domain)
    peer = None
    try:
        node.wait_for_line("ready", timeout_s=120)
        peer = _run_peer(bag, out, domain)
        sent = _finish(node, peer, clouds)
    finally:
        node.kill()
        if peer is not None:
            peer.kill()
    _check_outputs(out, package, clouds, expected, common, sent)
    return node


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rclpy_node_segments_what_a_ros2_node_sends(drive, domain_id, tmp_path):
    params = drive[-1]
    node = _drive(["-m", "seal_ros.adapters.rclpy_node", "--ros-args", "--params-file", str(params),
                   "-r", f"__node:={PREFIX[1:]}"], drive, domain_id, tmp_path / "out")
    log = "".join(node.stderr)
    assert f"subscribe  {PREFIX}/input/pointcloud" in log
    assert f"subscribe  {PREFIX}/input/{CAMERA}/image" in log and "subscribe  /tf_static" in log


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_dds_node_and_rclpy_interoperate_both_ways(drive, domain_id, tmp_path):
    """Fast DDS (rclpy) -> Cyclone: clouds, images, camera infos, /tf_static; Cyclone -> Fast DDS:
    every output. Same parameter file, same labels as the rclpy node."""
    params = drive[-1]
    _drive(["-m", "seal_ros.node", "--params", str(params), "--domain-id", str(domain_id)],
           drive, domain_id, tmp_path / "out")
