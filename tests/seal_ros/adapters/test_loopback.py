"""The loopback rule: no ROS 2 participant starts without localhost-only discovery and a domain id
of its own where ``SEAL_LOOPBACK_ONLY=1`` (tests, CI), and every participant starts through the one
helper that checks it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from seal_ros.adapters.dds import LOOPBACK_XML
from seal_ros.adapters.loopback import (
    DISCOVERY_RANGE,
    DOMAIN_ID,
    LOOPBACK_FLAG,
    check_loopback,
    fastdds_profile,
    loopback_env,
)
from seal_ros.errors import NetworkPolicyError, SealError

ROOT = Path(__file__).resolve().parents[3]


def test_loopback_env_sets_every_variable() -> None:
    env = loopback_env(42, base={"ROS_LOCALHOST_ONLY": "1", "PATH": "/bin"})
    assert env[LOOPBACK_FLAG] == "1" and env[DISCOVERY_RANGE] == "LOCALHOST"
    assert env[DOMAIN_ID] == "42" and env["ROS_STATIC_PEERS"] == ""
    assert env["CYCLONEDDS_URI"] == LOOPBACK_XML and "<NetworkInterface name='lo'/>" in LOOPBACK_XML
    assert "<AllowMulticast>false</AllowMulticast>" in LOOPBACK_XML
    assert "ROS_LOCALHOST_ONLY" not in env and env["PATH"] == "/bin"
    profile = Path(env["FASTDDS_DEFAULT_PROFILES_FILE"])
    assert profile == fastdds_profile() and "<address>127.0.0.1</address>" in profile.read_text()
    check_loopback(env)  # passes
    with pytest.raises(NetworkPolicyError, match="outside 0..232"):
        loopback_env(233)


@pytest.mark.parametrize("change, message", [
    ({DISCOVERY_RANGE: None}, "ROS_AUTOMATIC_DISCOVERY_RANGE is None"),
    ({DISCOVERY_RANGE: "SUBNET"}, "'SUBNET', expected 'LOCALHOST'"),
    ({DOMAIN_ID: None}, "ROS_DOMAIN_ID is None"),
    ({"ROS_STATIC_PEERS": "10.0.0.7"}, "ROS_STATIC_PEERS is '10.0.0.7'"),
])
def test_check_refuses_what_would_leave_the_machine(change: dict, message: str) -> None:
    env = loopback_env(42, base={})
    for key, value in change.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    with pytest.raises(NetworkPolicyError, match=re.escape(message)) as info:
        check_loopback(env)
    assert isinstance(info.value, SealError)
    check_loopback({**env, LOOPBACK_FLAG: "0"})  # a vehicle: the user's network settings stand


def test_this_test_session_runs_under_the_rule() -> None:
    import os

    assert os.environ[LOOPBACK_FLAG] == "1"
    check_loopback()


def test_the_node_refuses_to_start_a_participant_without_the_rule() -> None:
    """The entry point ``ros2 run`` starts, in a process without localhost-only discovery: it
    exits with the reason before rclpy creates anything."""
    env = loopback_env(42)
    env.pop(DISCOVERY_RANGE)
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-m", "seal_ros.adapters.rclpy_node"], env=env,
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 1
    assert "error: SEAL_LOOPBACK_ONLY=1 but a ROS 2 participant would be visible" in result.stderr
    assert "ROS_AUTOMATIC_DISCOVERY_RANGE" in result.stderr


def _python_files() -> list[Path]:
    folders = ("seal_ros", "seal_train", "tests", "launch", "benchmarks")
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def test_every_participant_starts_through_the_helpers() -> None:
    """rclpy starts only in :func:`seal_ros.adapters.loopback.init_rclpy`; Cyclone participants
    only in :mod:`seal_ros.adapters.dds` (which configures the domain first). A new
    ``rclpy.init(...)`` or ``DomainParticipant(...)`` anywhere else fails here."""
    rclpy_init = re.compile(r"\brclpy\.init\(")
    participant = re.compile(r"\bDomainParticipant\(")
    offenders = []
    for path in _python_files():
        text = path.read_text()
        rel = path.relative_to(ROOT).as_posix()
        if rel == "tests/seal_ros/adapters/test_loopback.py":  # names them in its docstring
            continue
        if rclpy_init.search(text) and rel != "seal_ros/adapters/loopback.py":
            offenders.append(f"{rel}: rclpy.init")
        if participant.search(text) and rel != "seal_ros/adapters/dds.py":
            offenders.append(f"{rel}: DomainParticipant")
    assert offenders == []
    assert len(_python_files()) > 100  # the scan sees the tree
