"""SegmentationNode: outputs on demand, filtered layout, bad inputs skipped, newest-first drops,
diagnostics levels; all with a real (tiny, random-weight) gather engine."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from seal_ros.core import codec, output_clouds
from seal_ros.errors import ConfigError
from seal_ros.node.core import SegmentationNode
from seal_ros.node.diagnostics import Level
from seal_ros.node.params import CameraParams, DiagnosticsParams, FilterParams, NodeParams
from seal_ros.node.topics import publications, subscriptions

PARAMS = NodeParams(engine="gather", threads=1)


class CountingEngine:
    """Wraps the real engine: counts calls and can be made slower (a heavier model)."""

    def __init__(self, engine, delay_s: float = 0.0) -> None:
        self.engine, self.delay_s, self.calls = engine, delay_s, 0
        self.name = engine.name

    def infer(self, features, inverse, maps):
        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.engine.infer(features, inverse, maps)


def _node(package, pipeline, io, params=PARAMS, delay_s=0.0):
    pipeline.engine = CountingEngine(getattr(pipeline.engine, "engine", pipeline.engine), delay_s)
    return SegmentationNode(io, params, package=package, pipeline=pipeline)


def _status(array, suffix):
    return next(s for s in array.status if s.name.endswith(suffix))


def test_info_published_once_at_start_and_endpoints(h, package, pipeline):
    io = h.RecordingIO()
    node = _node(package, pipeline, io)
    (info,) = io.on("~/output/info")
    assert info.class_names == list(package.class_names) and info.ignore_id == 0
    assert info.model_id == "tiny-minkunet@test"
    np.testing.assert_array_equal(info.palette, np.asarray(package.palette).reshape(-1))
    node.on_cloud(h.cloud_message(h.random_scan(3000)))
    node.spin_once()
    assert len(io.on("~/output/info")) == 1
    params = NodeParams(cameras=CameraParams(names=("cam_front",)))
    assert [e.topic for e in subscriptions(params)] == [
        "~/input/pointcloud", "~/input/cam_front/image", "~/input/cam_front/camera_info",
        "/tf_static", "/tf"]
    assert "~/output/cam_front/overlay" in [e.topic for e in publications(params)]


def test_outputs_match_the_pipeline_and_timing_is_complete(h, package, pipeline):
    io = h.RecordingIO()
    node = _node(package, pipeline, io)
    msg = h.cloud_message(h.random_scan(5000, seed=9))
    expected = pipeline.run(msg)
    node.on_cloud(msg)
    assert node.spin_once(timeout_s=1.0)
    (seg,) = io.on("~/output/segmentation")
    points = codec.decode(seg)
    assert [f.name for f in seg.fields] == ["x", "y", "z", "class_id", "probability"]
    np.testing.assert_array_equal(points["class_id"], expected.class_id)
    np.testing.assert_array_equal(points["probability"], expected.probability)
    (vis,) = io.on("~/output/visualization")
    lut = np.asarray(package.palette, dtype=np.uint8)
    np.testing.assert_array_equal(output_clouds.unpack_rgb(codec.decode(vis)["rgb"]),
                                  lut[expected.class_id])
    (timing,) = io.on("~/output/timing")
    assert timing.stage_names == ["decode", "voxelize", "kernel_maps", "inference", "labels",
                                  "segmentation", "visualization", "filtered"]
    assert len(timing.stage_ms) == 8 and timing.total_ms >= float(np.sum(timing.stage_ms))
    assert (timing.num_points, timing.num_voxels) == (5000, expected.num_voxels)
    assert timing.header.frame_id == "lidar_top" and seg.header.stamp == msg.header.stamp


def test_outputs_without_subscribers_are_not_computed(h, package, pipeline):
    io = h.RecordingIO(subscribed={"~/output/segmentation"})
    node = _node(package, pipeline, io)
    node.on_cloud(h.cloud_message(h.random_scan(3000)))
    node.spin_once()
    assert len(io.on("~/output/segmentation")) == 1
    assert io.on("~/output/visualization") == [] and io.on("~/output/filtered") == []
    (timing,) = io.on("~/output/timing")
    assert "visualization" not in timing.stage_names and "filtered" not in timing.stage_names
    calls = node.pipeline.engine.calls
    io.subscribed = set()  # nobody listens: the scan is not even inferred
    node.on_cloud(h.cloud_message(h.random_scan(3000)))
    assert node.spin_once()
    assert node.pipeline.engine.calls == calls
    assert len(io.on("~/output/timing")) == 1
    assert node.counters.idle == 1 and node.counters.processed == 1


def test_filtered_cloud_keeps_the_input_layout(h, package, pipeline):
    scan = h.random_scan(4000, seed=11)
    msg = h.cloud_message(scan, point_step=24, is_bigendian=True)  # padding, big-endian
    result = pipeline.run(msg)
    common = int(np.bincount(result.class_id).argmax())
    name = package.class_names[common]
    threshold = float(np.median(result.probability[result.class_id == common]))
    params = NodeParams(engine="gather", filter=FilterParams(classes=(name,),
                                                           probability_threshold=threshold))
    io = h.RecordingIO()
    node = _node(package, pipeline, io, params)
    node.on_cloud(msg)
    node.spin_once()
    (out,) = io.on("~/output/filtered")
    removed = (result.class_id == common) & (result.probability >= threshold)
    assert 0 < removed.sum() < 4000
    assert (out.point_step, out.is_bigendian) == (24, True)
    assert [(f.name, f.offset, f.datatype, f.count) for f in out.fields] == \
        [(f.name, f.offset, f.datatype, f.count) for f in msg.fields]
    assert out.width == 4000 - removed.sum() and out.row_step == out.width * 24
    rows = np.asarray(msg.data).reshape(4000, 24)[~removed]
    np.testing.assert_array_equal(np.asarray(out.data).reshape(-1, 24), rows)
    with pytest.raises(ConfigError, match="filter.classes \\['pavement'\\]"):
        _node(package, pipeline, h.RecordingIO(),
              NodeParams(filter=FilterParams(classes=("pavement",))))


def test_bad_inputs_are_skipped_counted_and_reported(h, package, pipeline):
    io = h.RecordingIO()
    node = _node(package, pipeline, io)
    scan = h.random_scan(3000, seed=12)
    no_intensity = h.cloud_message({k: v for k, v in scan.items() if k != "intensity"})
    truncated = h.cloud_message(scan)
    truncated.data = truncated.data[:-1]
    empty = h.cloud_message({k: v[:0] for k, v in scan.items()})
    broken = h.cloud_message(scan)
    broken.fields = None  # not even a PointCloud2: must not stop the node
    for bad, reason in ((no_intensity, "missing_field"), (truncated, "data_length"),
                        (empty, "empty"), (broken, "bad_message")):
        before = len(io.on("/diagnostics"))
        node.on_cloud(bad)
        assert node.spin_once()
        diag = io.on("/diagnostics")[before:]
        assert diag, f"no diagnostics after a {reason} message"
        status = _status(diag[-1], ": input")
        assert status.level == Level.WARN and f"({reason})" in status.message
        values = {kv.key: kv.value for kv in status.values}
        assert values[f"skipped.{reason}"] == "1"
        node.on_cloud(h.cloud_message(scan))  # the next good scan is processed
        assert node.spin_once()
    counters = node.counters
    assert counters.skipped == {"missing_field": 1, "data_length": 1, "empty": 1,
                                "bad_message": 1}
    assert counters.processed == 4 and len(io.on("~/output/segmentation")) == 4
    node.publish_diagnostics()
    assert _status(io.on("/diagnostics")[-1], ": input").level == Level.OK


def test_keep_last_slot_drops_older_scans_and_keeps_time_order(h, package, pipeline):
    io = h.RecordingIO()
    node = _node(package, pipeline, io, NodeParams(engine="gather", queue_size=2))
    msgs = [h.cloud_message(h.random_scan(2000, seed=i), stamp_ns=(i + 1) * 10**9)
            for i in range(5)]
    for msg in msgs:
        node.on_cloud(msg)  # never blocks
    assert node.pending == 2 and node.counters.dropped == 3
    assert node.spin_once() and node.spin_once() and not node.spin_once()
    stamps = [m.header.stamp.sec for m in io.on("~/output/segmentation")]
    assert stamps == [4, 5]  # the newest two, never back in time
    assert [t.dropped_messages for t in io.on("~/output/timing")] == [3, 3]


def test_slow_inference_drops_scans_while_the_feeder_never_blocks(h, package, pipeline):
    io = h.RecordingIO(subscribed={"~/output/segmentation"})
    node = _node(package, pipeline, io, delay_s=0.15)
    stop = threading.Event()

    def worker():
        while not stop.is_set():
            node.spin_once(timeout_s=0.05)

    thread = threading.Thread(target=worker)
    thread.start()
    msg = h.cloud_message(h.random_scan(2000))
    feed_ms = []
    for _ in range(30):  # 50 Hz for 0.6 s against ~0.15 s per scan
        t0 = time.perf_counter()
        node.on_cloud(msg)
        feed_ms.append((time.perf_counter() - t0) * 1e3)
        time.sleep(0.02)
    time.sleep(0.5)
    stop.set()
    thread.join()
    c = node.counters
    assert c.received == 30 and c.dropped > 10
    assert c.processed + c.dropped == 30
    assert max(feed_ms) < 100.0  # on_cloud returns at once, not after the 150 ms inference
    timings = io.on("~/output/timing")
    assert timings[-1].dropped_messages == c.dropped
    assert all(t.stage_ms[t.stage_names.index("inference")] >= 150 for t in timings)


def test_processing_time_warn_then_error(h, package, pipeline):
    params = NodeParams(engine="gather", diagnostics=DiagnosticsParams(
        max_allowed_processing_time_ms=300, max_acceptable_consecutive_delay_ms=600,
        period_ms=0))
    io = h.RecordingIO()
    node = _node(package, pipeline, io, params, delay_s=0.4)
    levels = []
    for _ in range(3):
        node.on_cloud(h.cloud_message(h.random_scan(2000)))
        node.spin_once()
        levels.append(_status(io.on("/diagnostics")[-1], ": processing_time").level)
    assert levels[0] == Level.WARN and levels[-1] == Level.ERROR
    assert "max_acceptable_consecutive_delay_ms" in \
        _status(io.on("/diagnostics")[-1], ": processing_time").message
    node.pipeline.engine.delay_s = 0.0
    node.on_cloud(h.cloud_message(h.random_scan(2000)))
    node.spin_once()
    assert _status(io.on("/diagnostics")[-1], ": processing_time").level == Level.OK
