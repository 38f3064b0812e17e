"""The DDS transport speaks ROS 2's wire format and moves clouds between processes quickly.

Every exchange runs on loopback (tests/conftest.py pins CYCLONEDDS_URI) in a domain of its own,
so parallel test runs on one machine do not hear each other. Waits are bounded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seal_ros import interfaces
from seal_ros.adapters import dds, dds_bytes, dds_types
from seal_ros.adapters.dds_types import (
    DiagnosticArray_,
    Image_,
    PointCloud2_,
    SegmentationInfo_,
    SegmentationTiming_,
)
from seal_ros.core import codec
from seal_ros.errors import CodecError

PEER = Path(__file__).with_name("dds_peer.py")
REPO = Path(__file__).resolve().parents[3]


def _load_peer():
    spec = importlib.util.spec_from_file_location("seal_dds_peer", PEER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = _load_peer()


@pytest.fixture(scope="module")
def store():
    return interfaces.typestore()


@pytest.fixture
def domain_id(request):
    """A domain per test, spread by pid so concurrent runs on this host do not mix."""
    index = list(request.session.items).index(request.node) if request.session.items else 0
    return 1 + (os.getpid() * 7 + index) % 200


def _spawn(*args: str, env_drop: tuple[str, ...] = ()) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, str(PEER), *args], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 30.0, expect_rc: int = 0) -> list[dict]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"peer did not finish in {timeout} s; stderr:\n{err}")
    assert proc.returncode == expect_rc, f"peer exited {proc.returncode}; stderr:\n{err}"
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _header(store, sec=1_700_000_000, nanosec=123_456_789, frame_id="lidar_top"):
    T = store.types
    return T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=sec,
                                                                          nanosec=nanosec),
                                    frame_id=frame_id)


# ------------------------------------------------------------------------------ wire format --

def _ros_messages(store):
    """{ROS type: rosbags message} covering every byte, number, string and struct sequence."""
    T = store.types
    cloud = peer.make_cloud(1000, seed=3)
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8)
    status = T["diagnostic_msgs/msg/DiagnosticStatus"]
    kv = T["diagnostic_msgs/msg/KeyValue"]
    vec, quat = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    return {
        "sensor_msgs/msg/PointCloud2": cloud.to_message(
            T["sensor_msgs/msg/PointCloud2"], T["sensor_msgs/msg/PointField"], _header(store)),
        "sensor_msgs/msg/Image": T["sensor_msgs/msg/Image"](
            header=_header(store, frame_id="cam_front"), height=4, width=5, encoding="rgb8",
            is_bigendian=0, step=15, data=rgb),
        "sensor_msgs/msg/CameraInfo": T["sensor_msgs/msg/CameraInfo"](
            header=_header(store), height=900, width=1600, distortion_model="plumb_bob",
            d=np.array([0.1, -0.2, 0.0, 0.0, 0.05]), k=np.arange(9, dtype=np.float64),
            r=np.eye(3).ravel(), p=np.arange(12, dtype=np.float64), binning_x=1, binning_y=2,
            roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=1, y_offset=2, height=3,
                                                       width=4, do_rectify=True)),
        "diagnostic_msgs/msg/DiagnosticArray": T["diagnostic_msgs/msg/DiagnosticArray"](
            header=_header(store), status=[
                status(level=1, name="seal: segmentation", message="slow",
                       hardware_id="gpu0", values=[kv(key="inference_ms", value="87.5"),
                                                   kv(key="dropped", value="3")]),
                status(level=0, name="seal: input", message="ok", hardware_id="", values=[])]),
        "tf2_msgs/msg/TFMessage": T["tf2_msgs/msg/TFMessage"](transforms=[
            T["geometry_msgs/msg/TransformStamped"](
                header=_header(store, frame_id="base_link"), child_frame_id="lidar_top",
                transform=T["geometry_msgs/msg/Transform"](
                    translation=vec(x=0.9, y=0.0, z=1.8),
                    rotation=quat(x=0.0, y=0.0, z=0.7071, w=0.7071)))]),
        "seal_msgs/msg/SegmentationInfo": T["seal_msgs/msg/SegmentationInfo"](
            header=_header(store), model_id="minkunet34@1", class_names=["road", "car"],
            palette=np.array([128, 64, 128, 0, 0, 142], dtype=np.uint8), ignore_id=255),
        "seal_msgs/msg/SegmentationTiming": T["seal_msgs/msg/SegmentationTiming"](
            header=_header(store), stage_names=["decode", "voxelize", "inference"],
            stage_ms=np.array([0.5, 12.25, 40.0], dtype=np.float32), total_ms=52.75,
            num_points=120_000, num_voxels=61_234, dropped_messages=2**40 + 7),
    }


def _assert_same(a, b, path="msg"):
    """Field-by-field equality of two rosbags messages (numpy arrays compared by value)."""
    assert type(a).__name__ == type(b).__name__, path
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if hasattr(x, "__dataclass_fields__"):
            _assert_same(x, y, f"{path}.{name}")
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f"{path}.{name}"
        elif isinstance(x, list) and x and hasattr(x[0], "__dataclass_fields__"):
            assert len(x) == len(y), f"{path}.{name}"
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                _assert_same(u, v, f"{path}.{name}[{i}]")
        else:
            assert x == y, f"{path}.{name}: {x!r} != {y!r}"


@pytest.mark.parametrize("msgtype", list(_ros_messages(interfaces.typestore())))
def test_xcdr1_bytes_equal_rosbags_cdr(store, msgtype):
    msg = _ros_messages(store)[msgtype]
    expected = bytes(store.serialize_cdr(msg, msgtype))
    sample = dds_types.to_dds(msg)
    assert dds_types.ros_typename(type(sample)) == msgtype
    wire = sample.serialize(use_version_2=False)
    assert wire[:4] == b"\x00\x01\x00\x00"  # CDR little endian, XCDR1 plain
    assert wire == expected
    # and back: cyclonedds reads rosbags' bytes, from_dds gives the same rosbags message
    back = type(sample).deserialize(expected)
    _assert_same(dds_types.from_dds(back, store), store.deserialize_cdr(expected, msgtype))


@pytest.mark.parametrize("fast", [True, False], ids=["raw_bytes", "stock"])
def test_fast_path_keeps_wire_format_and_type(store, fast):
    msg = _ros_messages(store)["sensor_msgs/msg/PointCloud2"]
    expected = bytes(store.serialize_cdr(msg, "sensor_msgs/msg/PointCloud2"))
    try:
        dds_bytes.set_fast_bytes(fast)
        sample = dds_types.to_dds(msg)
        assert sample.serialize(use_version_2=False) == expected
        back = PointCloud2_.deserialize(expected)
        assert isinstance(back.data, bytes if fast else list)
        np.testing.assert_array_equal(codec.read_points(back, ("x", "y", "z", "intensity")),
                                      codec.read_points(msg, ("x", "y", "z", "intensity")))
    finally:
        dds_bytes.set_fast_bytes(True)
    # the XTypes type still declares sequence<uint8>, as ROS' IDL does
    assert PointCloud2_.__idl__.get_type_info() is not None  # the XTypes type object builds
    hints = PointCloud2_.__annotations__["data"]
    assert "sequence[uint8]" in repr(hints.__metadata__[0])


def test_fast_path_accepts_buffers_and_rejects_others():
    data = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for value in (data, data.tobytes(), bytearray(data.tobytes()), memoryview(data),
                  list(data.ravel())):
        wire = Image_(data=value).serialize(use_version_2=False)
        assert Image_.deserialize(wire).data == data.tobytes()
    with pytest.raises(Exception, match="data"):
        Image_(data=3.5).serialize(use_version_2=False)


def test_names_and_type_lookup():
    assert dds_types.dds_typename(PointCloud2_) == "sensor_msgs::msg::dds_::PointCloud2_"
    assert dds_types.dds_typename(SegmentationTiming_) == \
        "seal_msgs::msg::dds_::SegmentationTiming_"
    assert dds_types.dds_class("sensor_msgs/msg/PointCloud2") is PointCloud2_
    assert dds_types.dds_class("diagnostic_msgs/DiagnosticArray") is DiagnosticArray_
    assert dds_types.dds_class(SegmentationInfo_) is SegmentationInfo_
    with pytest.raises(CodecError, match="no DDS type"):
        dds_types.dds_class("sensor_msgs/msg/LaserScan")
    assert dds.dds_topic_name("/seal/points") == "rt/seal/points"
    assert dds.dds_topic_name("diagnostics") == "rt/diagnostics"
    for bad in ("~/output/segmentation", "/seal//points", "/1abc", "/", "/seal/points/"):
        with pytest.raises(dds.TransportError):
            dds.dds_topic_name(bad)


def test_config(monkeypatch):
    monkeypatch.setenv("ROS_DOMAIN_ID", "17")
    monkeypatch.delenv("CYCLONEDDS_URI")
    config = dds.DdsConfig()
    assert config.domain_id == 17
    assert config.cyclone_xml() == dds.LOOPBACK_XML
    assert "<NetworkInterface name='lo'/>" in dds.LOOPBACK_XML
    assert "<AllowMulticast>false</AllowMulticast>" in dds.LOOPBACK_XML
    assert "eth0" in dds.DdsConfig(interface="eth0").cyclone_xml()
    assert dds.DdsConfig(loopback_only=False).cyclone_xml() is None
    monkeypatch.setenv("CYCLONEDDS_URI", "file:///etc/cyclone.xml")
    assert dds.DdsConfig().cyclone_xml() is None  # the user's configuration wins
    with pytest.raises(dds.TransportError, match="0..232"):
        dds.DdsConfig(domain_id=300)
    monkeypatch.setenv("ROS_DOMAIN_ID", "x")
    with pytest.raises(dds.TransportError, match="ROS_DOMAIN_ID"):
        dds.DdsConfig()


def test_qos_presets():
    assert dds.QosProfile(dds.Reliability.BEST_EFFORT,
                                             dds.Durability.VOLATILE, 5) == dds.SENSOR_DATA
    assert dds.QosProfile(dds.Reliability.RELIABLE, dds.Durability.VOLATILE, 10) == dds.DEFAULT
    assert dds.QosProfile(dds.Reliability.RELIABLE,
                                         dds.Durability.TRANSIENT_LOCAL, 1) == dds.LATCHED
    text = str(dds.LATCHED.to_cyclone())
    assert "TransientLocal" in text and "KeepLast(depth=1)" in text
    assert "use_cdrv0_representation=True" in text
    with pytest.raises(dds.TransportError, match="depth"):
        dds.QosProfile(dds.Reliability.RELIABLE, dds.Durability.VOLATILE, 0)


# ---------------------------------------------------------------------------------- transport --

@pytest.mark.timeout(60)
def test_in_process_rosbags_round_trip(store, domain_id):
    """A rosbags message published goes out and comes back equal after from_dds."""
    timing = _ros_messages(store)["seal_msgs/msg/SegmentationTiming"]
    with dds.DdsTransport(dds.DdsConfig(domain_id=domain_id)) as transport:
        sub = transport.subscriber("/seal/timing", "seal_msgs/msg/SegmentationTiming")
        pub = transport.publisher("/seal/timing", SegmentationTiming_, dds.DEFAULT)
        assert pub.wait_for_subscribers(1, timeout_s=10)
        assert sub.wait_for_publishers(1, timeout_s=10)
        pub.publish(timing)
        samples = sub.take(timeout_s=10)
        assert len(samples) == 1
        _assert_same(dds_types.from_dds(samples[0], store), timing)
        sub.close()
        assert sub.publisher_count == 0
        with pytest.raises(dds.TransportError, match="closed"):
            sub.take()
    with pytest.raises(dds.TransportError, match="closed"):
        pub.publish(timing)


@pytest.mark.timeout(60)
def test_two_processes_clouds_identical_and_fast(domain_id, monkeypatch):
    """A peer process publishes 120k-point clouds; they arrive intact within a few ms.

    Both ends use DdsConfig's own loopback configuration (LOOPBACK_XML: 64 kB datagrams, 4 MB
    receive buffer); with Cyclone's defaults, lost fragments of 2 MB samples wait for repair.
    """
    monkeypatch.delenv("CYCLONEDDS_URI", raising=False)
    n_points, count = 120_000, 8
    latencies_ms, received = [], []
    with dds.DdsTransport(dds.DdsConfig(domain_id=domain_id)) as transport:
        def on_cloud(msg):
            now_ns = time.time_ns()
            stamp_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            latencies_ms.append((now_ns - stamp_ns) / 1e6)
            received.append(msg)

        transport.subscriber("/seal/points", PointCloud2_, dds.DEFAULT, callback=on_cloud)
        proc = _spawn("clouds", "--domain", str(domain_id), "--points", str(n_points),
                      "--count", str(count), "--interval-ms", "100")
        assert "CYCLONEDDS_URI" not in os.environ
        events = _finish(proc, timeout=50)
        deadline = time.monotonic() + 5
        while len(received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [e["event"] for e in events].count("sent") == count
    assert len(received) == count  # reliable, keep-last 10 >= count: nothing dropped
    for seed, msg in enumerate(received):
        expected = peer.make_cloud(n_points, seed)
        assert msg.header.frame_id == expected.frame_id
        assert (msg.height, msg.width, msg.point_step) == (1, n_points, 18)
        assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == \
            [(f.name, f.offset, f.datatype, f.count) for f in expected.fields]
        assert isinstance(msg.data, bytes) and msg.data == expected.data.tobytes()
        np.testing.assert_array_equal(codec.read_field(msg, "ring"),
                                      codec.read_field(expected.data.view(codec.cloud_dtype(
                                          expected.fields, 18)), "ring"))
    median = statistics.median(latencies_ms)
    print(f"\n120k-point cloud ({len(received[0].data) / 1e6:.2f} MB), publish -> callback "
          f"across processes: median {median:.1f} ms, min {min(latencies_ms):.1f}, "
          f"max {max(latencies_ms):.1f} over {count}")
    assert median < 100.0, latencies_ms  # generous: ~4 ms measured on 2 idle cores


@pytest.mark.timeout(60)
def test_latched_info_reaches_late_subscriber(domain_id):
    """The peer publishes SegmentationInfo once; a subscriber created afterwards still gets it.

    The peer runs without CYCLONEDDS_URI, so it uses DdsConfig's own loopback configuration.
    """
    proc = _spawn("info", "--domain", str(domain_id), "--topic", "/seal/info", "--linger", "20",
                  env_drop=("CYCLONEDDS_URI",))
    try:
        line = proc.stdout.readline()  # blocks until "published" or the peer dies
        assert json.loads(line or "{}").get("event") == "published", proc.stderr.read()
        time.sleep(0.5)  # a genuinely late joiner
        got = []
        with dds.DdsTransport(dds.DdsConfig(domain_id=domain_id)) as transport:
            transport.subscriber("/seal/info", SegmentationInfo_, dds.LATCHED, callback=got.append)
            deadline = time.monotonic() + 15
            while not got and time.monotonic() < deadline:
                time.sleep(0.01)
            # a volatile reader is not served the history
            volatile = transport.subscriber("/seal/info", SegmentationInfo_, dds.DEFAULT)
            assert volatile.wait_for_publishers(1, timeout_s=10)
            assert volatile.take(timeout_s=0.5) == []
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert len(got) == 1
    info = got[0]
    assert info == peer.make_info()
    assert info.palette == bytes([128, 64, 128, 0, 0, 142, 220, 20, 60])


@pytest.mark.timeout(60)
def test_best_effort_subscriber_hears_reliable_publisher(domain_id):
    """QoS matching as ROS: best-effort readers take from reliable writers (not vice versa)."""
    with dds.DdsTransport(dds.DdsConfig(domain_id=domain_id)) as transport:
        sub = transport.subscriber("/seal/points", PointCloud2_, dds.SENSOR_DATA)
        strict = transport.subscriber("/seal/points_be", PointCloud2_, dds.DEFAULT)
        proc = _spawn("clouds", "--domain", str(domain_id), "--qos", "default", "--points",
                      "5000", "--count", "3", "--interval-ms", "50")
        be_proc = _spawn("clouds", "--domain", str(domain_id), "--topic", "/seal/points_be",
                         "--qos", "sensor", "--points", "10", "--count", "1", "--timeout", "3")
        _finish(proc, timeout=40)
        received = sub.take(timeout_s=5)
        deadline = time.monotonic() + 5
        while len(received) < 3 and time.monotonic() < deadline:
            received += sub.take(timeout_s=0.2)
        be_events = _finish(be_proc, timeout=40, expect_rc=2)
        assert strict.publisher_count == 0
    assert [m.header.frame_id for m in received] == ["lidar_0", "lidar_1", "lidar_2"]
    assert received[0].data == peer.make_cloud(5000, 0).data.tobytes()
    # a reliable reader never matches a best-effort writer: the peer times out unmatched
    assert [e["event"] for e in be_events] == ["timeout"]
