"""The rclpy adapter: its parameters equal NodeParams and the shipped parameter file; it imports
without ROS; with rclpy (marker ``ros``) it declares, publishes and converts for real."""

from __future__ import annotations

import array
import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from seal_ros.adapters.qos import LATCHED
from seal_ros.adapters.rclpy_node import EXTRINSICS, parameter_table, params_from_values
from seal_ros.errors import ConfigError
from seal_ros.node.params import ENGINES, NodeParams, load_params

ROOT = Path(__file__).resolve().parents[3]
PARAM_FILE = ROOT / "config" / "segment.param.yaml"


def _fields(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flattened dataclass fields -> default values (the reference, written independently)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_fields(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


def _yaml_keys(node: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in node.items():
        if isinstance(value, dict):
            keys |= _yaml_keys(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def _commented_keys(text: str) -> set[str]:
    """Keys written as ``# key: value`` comments, with the section of their indentation."""
    keys, sections = set(), {}
    for line in text.splitlines():
        match = re.match(r"^( *)(#\s*)?([a-z_]+):", line)
        if not match:
            continue
        indent = len(match.group(1))
        parents = [sections[i] for i in sorted(sections)
                   if i < indent and sections[i] != "ros__parameters"]
        if match.group(2) is None:
            sections = {i: s for i, s in sections.items() if i < indent}
            sections[indent] = match.group(3)
        elif indent >= 6:  # inside ros__parameters
            keys.add(".".join([*parents, match.group(3)]))
    return keys


def test_declared_parameters_are_the_node_params_fields() -> None:
    reference = _fields(NodeParams())
    table = parameter_table()
    assert [p.name for p in table] == [k for k in reference if k != EXTRINSICS]
    for spec in table:
        assert spec.default == reference[spec.name], spec.name
    kinds = {p.name: p.kind for p in table}
    assert kinds["build_only"] == "bool" and kinds["threads"] == "integer"
    assert kinds["filter.probability_threshold"] == "double"
    assert kinds["filter.classes"] == kinds["cameras.names"] == "string_array"


def test_param_file_has_every_key() -> None:
    text = PARAM_FILE.read_text()
    section = yaml.safe_load(text)["/**"]["ros__parameters"]
    written = _yaml_keys(section)
    commented = _commented_keys(text)
    everything = set(_fields(NodeParams()))
    assert written | commented == everything
    assert written & commented == set()
    # Only keys whose default is an empty list/mapping (no ROS type) are left as comments.
    assert commented == {"filter.classes", "cameras.names", EXTRINSICS}
    assert written == {p.name for p in parameter_table()} - commented


def test_param_file_loads_as_the_defaults() -> None:
    # The file deliberately sets nothing that differs from the dataclass: the code is the
    # single source of defaults; launch arguments override model_path, engine, ...
    assert load_params(PARAM_FILE) == NodeParams()


def test_param_file_comments_every_key() -> None:
    lines = PARAM_FILE.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^ {4,}[a-z_]+: \S", line):  # a value line (not a section header)
            assert lines[index - 1].strip().startswith("#"), f"no comment above {line.strip()!r}"


def _schema_defaults(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, prop in node["properties"].items():
        if prop.get("type") == "object" and "properties" in prop:
            out.update(_schema_defaults(prop, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = prop["default"]
    return out


def test_param_file_validates_against_its_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is in the [test] extra")
    schema = json.loads((ROOT / "config" / "segment.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(PARAM_FILE.read_text()), schema)
    node = schema["definitions"]["seal_segmentation"]
    reference = {k: list(v) if isinstance(v, tuple) else v
                 for k, v in _fields(NodeParams()).items()}
    assert _schema_defaults(node) == reference  # schema and dataclass cannot drift apart
    assert node["properties"]["engine"]["enum"] == list(ENGINES)
    bad = yaml.safe_load(PARAM_FILE.read_text())
    bad["/**"]["ros__parameters"]["filter"]["probability_threshold"] = 1.5
    with pytest.raises(jsonschema.ValidationError, match="1.5"):
        jsonschema.validate(bad, schema)
    bad["/**"]["ros__parameters"]["filter"] = {"probability_threshold": 0.5, "clases": ["car"]}
    with pytest.raises(jsonschema.ValidationError, match="clases"):
        jsonschema.validate(bad, schema)


def test_params_from_values_like_rclpy_gives_them() -> None:
    values = {p.name: p.default for p in parameter_table()}
    values.update({"filter.classes": None, "cameras.names": ["cam_front"], "engine": "gather",
                   f"{EXTRINSICS}.cam_front": array.array("d", np.eye(4).ravel()),
                   "diagnostics.period_ms": 500.0})
    params = params_from_values(values)
    assert params.engine == "gather" and params.filter.classes == ()
    assert params.cameras.names == ("cam_front",)
    assert params.cameras.extrinsics == {"cam_front": np.eye(4).ravel().tolist()}
    assert params.diagnostics.period_ms == 500.0
    with pytest.raises(ConfigError, match="queue_size"):
        params_from_values({"queue_size": 0})
    with pytest.raises(ConfigError, match="engine 'tensorrtx'"):
        params_from_values({"engine": "tensorrtx"})


def test_imports_without_rclpy_and_says_why_it_cannot_run() -> None:
    code = ("import sys; import seal_ros.adapters.rclpy_node as m; "
            "assert 'rclpy' not in sys.modules and 'torch' not in sys.modules; "
            "sys.exit(m.main([]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    try:
        import rclpy  # noqa: F401
    except ImportError:
        assert result.returncode == 1
        assert "rclpy is not importable" in result.stderr
    else:  # with ROS the import still must not load rclpy or torch
        assert "AssertionError" not in result.stderr


def test_console_script_is_registered() -> None:
    text = (ROOT / "setup.py").read_text()
    assert '"seal_segmentation = seal_ros.adapters.rclpy_node:main"' in text


# ------------------------------------------------------------------ with a ROS 2 install --


@pytest.fixture
def ros():
    from seal_ros.adapters.loopback import init_rclpy

    rclpy = init_rclpy()
    yield rclpy
    rclpy.shutdown()


@pytest.mark.ros
def test_rclpy_declares_the_param_file(ros) -> None:
    from seal_ros.adapters.rclpy_node import RclpyNodeIO

    io = RclpyNodeIO(args=["--ros-args", "--params-file", str(PARAM_FILE), "-p",
                           "model_path:=/models/x", "-p", "cameras.names:=[cam_front]",
                           "-p", "queue_size:=3"])
    try:
        assert io.params == load_params(PARAM_FILE, {"model_path": "/models/x",
                                                     "cameras.names": ["cam_front"],
                                                     "queue_size": 3})
        declared = set(io.node._parameters)  # noqa: SLF001
        assert {p.name for p in parameter_table()} <= declared
        assert f"{EXTRINSICS}.cam_front" in declared
    finally:
        io.node.destroy_node()


@pytest.mark.ros
def test_rclpy_publish_converts_rosbags_messages(ros) -> None:
    from rclpy.executors import SingleThreadedExecutor

    from seal_ros.adapters.rclpy_node import RclpyNodeIO
    from seal_ros.node.topics import publications

    io = RclpyNodeIO(args=["--ros-args", "-r", "__node:=seal_ros_test"])
    io.create_publishers(publications(io.params))
    received: list[Any] = []
    cls = io._msg_class("seal_msgs/msg/SegmentationInfo")  # noqa: SLF001
    sub = io.node.create_subscription(cls, "/seal_ros_test/output/info", received.append,
                                      io._qos(LATCHED))  # noqa: SLF001
    types = io.store.types
    msg = types["seal_msgs/msg/SegmentationInfo"](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=3, nanosec=7), frame_id="lidar"),
        model_id="m", class_names=["ignore", "car"],
        palette=np.array([0, 0, 0, 255, 158, 0], dtype=np.uint8), ignore_id=0)
    io.publish("~/output/info", msg)
    executor = SingleThreadedExecutor()
    executor.add_node(io.node)
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.1)
    io.node.destroy_subscription(sub)
    io.node.destroy_node()
    assert received, "no SegmentationInfo arrived"
    got = received[0]
    assert got.header.frame_id == "lidar" and got.header.stamp.nanosec == 7
    assert list(got.class_names) == ["ignore", "car"]
    assert bytes(got.palette) == bytes([0, 0, 0, 255, 158, 0])


# ------------------------------------------------------------- wiring, on real rclpy --


class _Core:
    """Records the callbacks the adapter feeds (the core itself is tested in test_core.py)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_cloud(self, msg: Any) -> None:
        self.calls.append(("cloud", msg))

    def on_image(self, camera: str, msg: Any) -> None:
        self.calls.append((f"image {camera}", msg))

    def on_camera_info(self, camera: str, msg: Any) -> None:
        self.calls.append((f"camera_info {camera}", msg))

    def on_tf(self, msg: Any, static: bool = False) -> None:
        self.calls.append((f"tf static={static}", msg))


@pytest.mark.ros
def test_adapter_wiring(ros) -> None:
    """Declared parameters (extrinsics per camera), QoS of every endpoint, raw subscriptions
    feeding rosbags messages to the core (a garbage message dropped), publishing and the
    subscriber check."""
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    from seal_ros.adapters.rclpy_node import RclpyNodeIO
    from seal_ros.node.topics import publications, subscriptions

    eye = np.eye(4).ravel().tolist()
    io = RclpyNodeIO(args=["--ros-args", "-r", "__node:=seal_wiring_test", "-p", "model_path:=/m",
                           "-p", "cameras.names:=[cam_front]",
                           "-p", f"{EXTRINSICS}.cam_front:={eye}"])
    try:
        assert io.params == load_params(None, {"model_path": "/m", "cameras.names": ["cam_front"],
                                               f"{EXTRINSICS}.cam_front": eye})
        rclpy_own = {"use_sim_time", "start_type_description_service"}
        declared = set(io.node._parameters) - rclpy_own  # noqa: SLF001
        assert declared == {p.name for p in parameter_table()} | {f"{EXTRINSICS}.cam_front"}

        io.create_publishers(publications(io.params))
        pubs = io._pubs  # noqa: SLF001
        seg = pubs["~/output/segmentation"].qos_profile
        assert seg.reliability == ReliabilityPolicy.BEST_EFFORT and seg.depth == 5
        info = pubs["~/output/info"].qos_profile
        assert info.depth == 1 and info.durability == DurabilityPolicy.TRANSIENT_LOCAL
        assert info.reliability == ReliabilityPolicy.RELIABLE
        assert pubs["/diagnostics"].qos_profile.depth == 10
        assert pubs["~/output/cam_front/overlay"].topic_name == \
            "/seal_wiring_test/output/cam_front/overlay"

        core = _Core()
        io.subscribe(core, subscriptions(io.params))
        subs = {s.topic_name: s for s in io._subs}  # noqa: SLF001
        assert all(s.raw for s in subs.values())
        assert subs["/seal_wiring_test/input/pointcloud"].qos_profile.reliability == \
            ReliabilityPolicy.BEST_EFFORT
        assert subs["/tf_static"].qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL

        store = io.store
        header = store.types["std_msgs/msg/Header"](
            stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="lidar")
        tf = store.types["tf2_msgs/msg/TFMessage"](transforms=[])
        subs["/tf_static"].callback(bytes(store.serialize_cdr(tf, tf.__msgtype__)))
        subs["/seal_wiring_test/input/cam_front/camera_info"].callback(b"\x00\x01garbage")
        cloud = store.types["sensor_msgs/msg/PointCloud2"](
            header=header, height=1, width=2, fields=[], is_bigendian=False, point_step=4,
            row_step=8, data=np.arange(8, dtype=np.uint8), is_dense=True)
        subs["/seal_wiring_test/input/pointcloud"].callback(
            bytes(store.serialize_cdr(cloud, cloud.__msgtype__)))
        assert [c[0] for c in core.calls] == ["tf static=True", "cloud"]  # garbage dropped
        assert core.calls[0][1].transforms == []
        got = core.calls[1][1]
        assert got.__msgtype__ == "sensor_msgs/msg/PointCloud2" and got.header.frame_id == "lidar"
        assert got.data.tolist() == list(range(8)) and got.width == 2

        assert not io.has_subscribers("~/output/segmentation")
        assert not io.has_subscribers("~/output/nothing")
        listener = io.node.create_subscription(pubs["~/output/segmentation"].msg_type,
                                               "/seal_wiring_test/output/segmentation",
                                               lambda msg: None, seg)
        deadline = time.monotonic() + 10
        while not io.has_subscribers("~/output/segmentation") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert io.has_subscribers("~/output/segmentation")
        io.publish("/diagnostics", store.types["diagnostic_msgs/msg/DiagnosticArray"](
            header=header, status=[]))  # rosbags message -> CDR -> rclpy message, published
        io.node.destroy_subscription(listener)
    finally:
        io.node.destroy_node()
