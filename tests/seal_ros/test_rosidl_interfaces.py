"""The rosidl-built ``seal_msgs`` (and the ``tf2_msgs`` mirror) agree with the ``.msg`` files.

Where the interfaces come from this interpreter's prefix (the PyPI wheels' venv), a session fixture
runs ``bash msg/build_interfaces.sh`` first: it is a no-op (about a second) when the install is up
to date with the ``.msg`` files and rebuilds it when not, so these tests always check the current
sources rather than a stale build, and CI needs no extra step (the first build takes ~30 s). A
``seal_msgs`` from elsewhere (a sourced colcon workspace) is tested as it is.

Checks: the generated Python classes have the fields ``seal_ros.interfaces.typestore()`` (rosbags)
parses from the same files; their RIHS01 type hashes equal rosbags' (TFMessage's too: the mirror
is ROS's tf2_msgs, hash for hash); and a real rclpy publisher and subscription carry each type, in
a child process (``rosidl_roundtrip.py``) on a loopback-only domain of its own.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seal_ros import interfaces
from seal_ros.adapters.loopback import loopback_env

pytestmark = pytest.mark.ros

if importlib.util.find_spec("rclpy") is None:
    pytest.skip("rclpy is not installed (pip install -e '.[ros]')", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "msg" / "build_interfaces.sh"
CHILD = Path(__file__).resolve().with_name("rosidl_roundtrip.py")
SEAL_TYPES = ("seal_msgs/msg/SegmentationInfo", "seal_msgs/msg/SegmentationTiming")
TF = "tf2_msgs/msg/TFMessage"
HINT = "run `bash msg/build_interfaces.sh` (or colcon build --packages-select seal_msgs)"

# rosbags base type -> the rosidl (IDL) name get_fields_and_field_types() reports.
IDL_BASE = {"float32": "float", "float64": "double", "bool": "boolean", "byte": "octet",
            "char": "uint8"}


def _under(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def _location(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.origin else None


@pytest.fixture(scope="session")
def built() -> None:
    """``seal_msgs`` and ``tf2_msgs`` importable; built here when they belong in this prefix."""
    importlib.invalidate_caches()
    loc = _location("seal_msgs")
    if loc is None or _under(loc, sys.prefix):
        if not (Path(sys.prefix) / "share" / "rosidl_default_generators").is_dir():
            pytest.fail(f"seal_msgs is not importable and {sys.prefix} has no rosidl toolchain: "
                        f"{HINT}")
        env = {**os.environ, "PYTHON": sys.executable}
        run = subprocess.run(["bash", str(SCRIPT), sys.prefix], capture_output=True, text=True,
                             env=env, timeout=1200)
        if run.returncode != 0:
            pytest.fail(f"bash msg/build_interfaces.sh {sys.prefix} failed "
                        f"(rc {run.returncode}):\n{run.stdout}\n{run.stderr[-4000:]}")
        importlib.invalidate_caches()
    for module in ("seal_msgs.msg", "tf2_msgs.msg"):
        try:
            importlib.import_module(module)
        except ImportError as err:
            pytest.fail(f"{module} is not importable ({err}): {HINT}")


def _class(msgtype: str) -> type:
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def _idl_type(desc: Any) -> str:
    """A rosbags field description as rosidl's Python classes name its type."""
    kind, rest = desc
    if kind.name == "NAME":
        package, _, name = rest.split("/")
        return f"{package}/{name}"
    if kind.name == "BASE":
        name, bound = rest
        if name in ("string", "wstring") and bound:
            return f"{name}<{bound}>"
        return IDL_BASE.get(name, name)
    inner, count = rest
    if kind.name == "ARRAY":
        return f"{_idl_type(inner)}[{count}]"
    return f"sequence<{_idl_type(inner)}{f', {count}' if count else ''}>"  # SEQUENCE


@pytest.fixture(scope="module")
def store():
    return interfaces.typestore()  # rosbags, from msg/msg/*.msg; tf2_msgs from rosbags' own


@pytest.mark.parametrize("msgtype", [*SEAL_TYPES, TF])
def test_fields_match_msg_files(built, store, msgtype: str) -> None:
    consts, fields = store.fielddefs[msgtype]
    expected = {name: _idl_type(desc) for name, desc in fields}
    cls = _class(msgtype)
    assert cls.get_fields_and_field_types() == expected
    assert list(cls.get_fields_and_field_types()) == [name for name, _ in fields]  # order
    assert not consts


@pytest.mark.parametrize("msgtype", [*SEAL_TYPES, TF])
def test_type_hash_matches_rosbags(built, store, msgtype: str) -> None:
    package, _, name = msgtype.split("/")
    # <prefix>/lib/pythonX.Y/site-packages/<package>/ -> <prefix>/share/<package>/msg/<Name>.json
    prefix = _location(package).parents[3]
    description = json.loads((prefix / "share" / package / "msg" / f"{name}.json").read_text())
    hashes = {h["type_name"]: h["hash_string"] for h in description["type_hashes"]}
    assert hashes[msgtype] == store.hash_rihs01(msgtype)
    assert hashes[msgtype].startswith("RIHS01_")


def test_the_node_resolves_the_built_types(built) -> None:
    """What the rclpy adapter publishes and subscribes with (``rosidl_runtime_py``, whose
    ``get_message`` it would use, is not among the ROS 2 PyPI wheels)."""
    from seal_ros.adapters.rclpy_node import message_class
    from seal_ros.errors import ConfigError

    assert message_class("seal_msgs/msg/SegmentationTiming") is _class(SEAL_TYPES[1])
    assert message_class("seal_msgs/msg/SegmentationInfo") is _class(SEAL_TYPES[0])
    assert message_class(TF) is _class(TF)
    with pytest.raises(ConfigError, match="seal_msgs/msg/Nope is not importable"):
        message_class("seal_msgs/msg/Nope")


# ----------------------------------------------------------- through rclpy, in a child process --


@pytest.fixture(scope="module")
def roundtrip(built) -> dict[str, Any]:
    domain = (int(os.environ["ROS_DOMAIN_ID"]) + 7) % 232 + 1
    run = subprocess.run([sys.executable, str(CHILD)], capture_output=True, text=True,
                         env=loopback_env(domain), cwd=REPO, timeout=180)
    assert run.returncode == 0, f"rosidl_roundtrip.py failed:\n{run.stdout}\n{run.stderr}"
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_timing_round_trip(roundtrip, store) -> None:
    got = roundtrip["timing"]
    assert got is not None, "no SegmentationTiming arrived"
    assert got["header"] == {"stamp": {"sec": 12, "nanosec": 345}, "frame_id": "lidar_top"}
    assert got["stage_names"] == ["decode", "voxelize", "inference"]
    assert got["stage_ms"] == [0.5, 12.25, 40.0] and got["total_ms"] == 52.75
    assert (got["num_points"], got["num_voxels"]) == (120_000, 61_234)
    assert got["dropped_messages"] == 2**40 + 7
    # The bytes on the wire are what rosbags (the node's decoder) reads and writes.
    assert roundtrip["timing_cdr"], "the raw subscription got nothing"
    raw = bytes.fromhex(roundtrip["timing_cdr"])
    msg = store.deserialize_cdr(raw, SEAL_TYPES[1])
    assert msg.stage_names == got["stage_names"] and msg.num_voxels == 61_234
    np.testing.assert_array_equal(msg.stage_ms, np.array([0.5, 12.25, 40.0], np.float32))
    assert store.serialize_cdr(msg, SEAL_TYPES[1]) == raw


def test_info_is_latched(roundtrip) -> None:
    got = roundtrip["info"]
    assert got is not None, "the SegmentationInfo published before the subscription did not arrive"
    assert got["model_id"] == "seal-test 0.1" and got["ignore_id"] == 0
    assert got["class_names"] == ["ignore", "car", "road"]
    assert got["palette"] == [0, 0, 0, 255, 158, 0, 128, 64, 128]
    assert got["header"] == {"stamp": {"sec": 3, "nanosec": 0}, "frame_id": "lidar_top"}


def test_tf_round_trip(roundtrip) -> None:
    got = roundtrip["tf"]
    assert got is not None, "no TFMessage arrived"
    frames = [(t["header"]["frame_id"], t["child_frame_id"], t["transform"]["translation"]["x"])
              for t in got["transforms"]]
    assert frames == [("map", "base_link", 1.5), ("base_link", "lidar_top", -0.25)]
    assert got["transforms"][1]["transform"]["rotation"] == {"x": 0.0, "y": 0.0, "z": 0.6,
                                                              "w": 0.8}


def test_endpoint_type_hashes_match_rosbags(roundtrip, store) -> None:
    """The hash the C type support announces in discovery, which real ROS 2 nodes compare."""
    for key, msgtype in (("timing_hashes", SEAL_TYPES[1]), ("info_hashes", SEAL_TYPES[0]),
                         ("tf_hashes", TF)):
        assert roundtrip[key] == [[msgtype, store.hash_rihs01(msgtype)]]
