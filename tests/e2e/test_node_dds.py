"""The node process on loopback DDS: a player process sends synthetic-drive clouds, the node
(``python -m seal_ros.node``) segments them, this process receives segmentation equal to offline
inference, byte for byte in rosbags' CDR, and a 20 Hz load leaves the node's memory flat."""

from __future__ import annotations

import json
import signal
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seal_ros import interfaces
from seal_ros.adapters import dds
from seal_ros.adapters.dds_types import (
    DiagnosticArray_,
    PointCloud2_,
    SegmentationInfo_,
    SegmentationTiming_,
)

sys.path.insert(0, str(Path(__file__).parent))  # the e2e helpers beside this file
import node_processes as procs  # noqa: E402

h = procs.node_helpers()
STORE = interfaces.typestore()
PREFIX = "/seal_segmentation"


@pytest.fixture
def domain_id(request):
    return procs.test_domain(request, salt=101)


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    root = tmp_path_factory.mktemp("node_dds")
    bag = procs.write_drive_bag(root / "bags", frames=3)
    package = h.write_package(root / "pkg")
    return bag, package


def _subscribe(transport, *outputs: str) -> dict:
    """Readers of the node's outputs, matched with the node before anything is sent."""
    table = {"segmentation": (f"{PREFIX}/output/segmentation", PointCloud2_, dds.SENSOR_DATA),
             "timing": (f"{PREFIX}/output/timing", SegmentationTiming_, dds.DEFAULT),
             "info": (f"{PREFIX}/output/info", SegmentationInfo_, dds.LATCHED),
             "diagnostics": ("/diagnostics", DiagnosticArray_, dds.DEFAULT)}
    subs = {name: transport.subscriber(*table[name]) for name in outputs}
    assert subs["segmentation"].wait_for_publishers(1, timeout_s=20)
    time.sleep(1.0)  # the node's writer discovers these readers too
    return subs


def _shut_down(node, player, sig: int) -> int:
    """Kill the player if still running, stop the node with ``sig``; the node's exit code."""
    if player is not None:
        player.kill()
    return node.stop(sig)


def _take_all(sub, want: int, timeout_s: float, on_sample=None) -> list:
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        for sample in sub.take(timeout_s=0.2):
            if on_sample is not None:
                on_sample(sample)
            got.append(sample)
    return got


@pytest.mark.timeout(180)
def test_node_process_segments_clouds_like_offline_inference(drive, domain_id):
    bag, package = drive
    clouds = procs.read_clouds(bag)
    expected = {(m.header.stamp.sec, m.header.stamp.nanosec):
                procs.offline_segmentation(h, h.tiny_state(), m) for m in clouds}
    node = procs.Process(procs.node_args(package, domain_id, "--set", "queue_size=5"))
    player = None
    try:
        node.wait_for_line("ready", timeout_s=90)
        with dds.DdsTransport(dds.DdsConfig(domain_id=domain_id)) as transport:
            subs = _subscribe(transport, "segmentation", "timing", "info", "diagnostics")
            seg, timing, info, diag = subs.values()
            arrival_ns: dict[tuple[int, int], int] = {}

            def stamp_arrival(sample):
                stamp = sample.header.stamp
                arrival_ns[(stamp.sec, stamp.nanosec)] = time.time_ns()

            player = procs.Process(procs.player_args(bag, domain_id, "--interval-ms", "1500"))
            received = _take_all(seg, len(clouds), 90, stamp_arrival)
            timings = _take_all(timing, len(clouds), 10)
            infos = _take_all(info, 1, 10)
            diagnostics = _take_all(diag, 1, 5)
        assert player.proc.wait(timeout=30) == 0, "".join(player.stderr)
    finally:
        rc = _shut_down(node, player, signal.SIGINT)
    assert rc == 0, "".join(node.stderr)
    assert any("stopped: received 3, processed 3, dropped 0" in line for line in node.stdout), \
        node.stdout
    assert any("subscribe  /lidar_top/points" in line for line in node.stdout)
    assert any(f"publish    {PREFIX}/output/segmentation" in line for line in node.stdout)

    assert len(received) == len(clouds)
    for sample in received:
        key = (sample.header.stamp.sec, sample.header.stamp.nanosec)
        want = expected[key]
        wire = sample.serialize(use_version_2=False)  # what crossed the wire (XCDR1)
        assert wire == bytes(STORE.serialize_cdr(want, "sensor_msgs/msg/PointCloud2"))
        assert sample.width == len(expected[key].data) // 17 > 10_000
    assert {len(np.unique(np.frombuffer(s.data, np.uint8).reshape(-1, 17)[:, 12]))
            for s in received} != {1}  # several classes on the wire
    (info_msg,) = infos
    assert info_msg.class_names == list(h.NUSCENES_CLASSES) and info_msg.ignore_id == 0
    assert len(timings) == len(clouds)
    assert all(t.stage_names[:5] == ["decode", "voxelize", "kernel_maps", "inference", "labels"]
               for t in timings)
    assert diagnostics and diagnostics[0].status[0].name == "seal_segmentation: processing_time"

    events = [json.loads(e) for e in player.stdout if '"sent"' in e]
    sent = {e["stamp_ns"]: e["wall_ns"] for e in events}
    latencies = [(arrival_ns[k] - sent[k[0] * 10**9 + k[1]]) / 1e6 for k in arrival_ns]
    node_ms = [t.total_ms for t in timings]
    print(f"\nDDS end to end (player publish -> segmentation received, {received[0].width} "
          f"points): median {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms; "
          f"node total_ms median {statistics.median(node_ms):.0f}")
    assert statistics.median(latencies) < 5000


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_node_under_20hz_load_drops_scans_and_keeps_memory_flat(drive, domain_id):
    """20 Hz input for 30 s while one scan takes longer than 50 ms: drops are counted and
    reported on the timing message, RSS stays flat after warm-up, the node stops cleanly."""
    bag, _ = drive
    slow_package = h.write_package(Path(str(bag) + "_slow_pkg"),
                                   state=h.tiny_state(planes=48))
    node = procs.Process(procs.node_args(slow_package, domain_id))
    player = None
    rss: list[tuple[float, float]] = []
    try:
        node.wait_for_line("ready", timeout_s=90)
        with dds.DdsTransport(dds.DdsConfig(domain_id=domain_id)) as transport:
            seg, timing = _subscribe(transport, "segmentation", "timing").values()
            player = procs.Process(procs.player_args(bag, domain_id, "--rate-hz", "20",
                                                     "--duration-s", "30"))
            start = time.monotonic()
            timings, segs = [], 0
            while player.proc.poll() is None and time.monotonic() - start < 60:
                timings += timing.take(timeout_s=0.5)
                segs += len(seg.take())
                rss.append((time.monotonic() - start, node.rss_mb()))
            time.sleep(1.0)
            timings += timing.take(timeout_s=0.5)
        assert player.proc.wait(timeout=10) == 0, "".join(player.stderr)
    finally:
        rc = _shut_down(node, player, signal.SIGTERM)
    assert rc == 0, "".join(node.stderr)
    sent = next(int(e.split('"sent": ')[1].split(",")[0]) for e in player.stdout if "done" in e)
    stopped = next(line for line in node.stdout if line.startswith("stopped:"))
    received = int(stopped.split("received ")[1].split(",")[0])
    processed = int(stopped.split("processed ")[1].split(",")[0])
    dropped = int(stopped.split("dropped ")[1].split(",")[0])
    inference_ms = statistics.median(t.stage_ms[t.stage_names.index("inference")]
                                     for t in timings)
    after_warmup = [mb for t, mb in rss if t > 8.0]
    growth = max(after_warmup) - min(after_warmup)  # allocator churn included
    third = len(after_warmup) // 3
    trend = statistics.median(after_warmup[-third:]) - statistics.median(after_warmup[:third])
    print(f"\nload: sent {sent} at 20 Hz, node received {received}, processed {processed}, "
          f"dropped {dropped} (timing says {timings[-1].dropped_messages}); inference median "
          f"{inference_ms:.0f} ms; RSS {min(after_warmup):.0f}..{max(after_warmup):.0f} MB after "
          f"warm-up ({len(rss)} samples), spread {growth:.1f} MB, trend {trend:+.1f} MB "
          f"(median of the last third minus the first)")
    assert sent >= 550 and received >= 0.9 * sent
    assert inference_ms > 50  # slower than the 50 ms period: the node must drop
    assert dropped > 0.3 * received and processed + dropped <= received <= processed + dropped + 1
    assert timings[-1].dropped_messages >= 0.9 * dropped > 0
    assert len(timings) == processed and segs >= processed - 2
    assert trend < 16.0, rss  # a leak of one scan's buffers per message would add ~MBs per second
    assert growth < 64.0, rss
