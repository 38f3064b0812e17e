"""The one place that starts ROS 2 participants, and the loopback rule tests and CI live under.

A ROS 2 participant announces itself: Fast DDS (rclpy's RMW here) multicasts discovery on every
interface unless ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``; Cyclone does unless configured with
:data:`~seal_ros.adapters.dds.LOOPBACK_XML`. On a vehicle that is what the user wants; on a
developer's machine or in CI nothing may leave the loopback interface.

- :func:`loopback_env` gives the variables a process needs to stay on loopback (its own domain id,
  ``SEAL_LOOPBACK_ONLY=1``, Fast DDS's UDP allow-listed to 127.0.0.1 by ``config/fastdds.xml``).
  Tests set them for the whole session (``tests/conftest.py``) and pass them to every process
  they start.
- :func:`init_rclpy` is how the node and the tests start rclpy. Where ``SEAL_LOOPBACK_ONLY=1`` it
  refuses (:class:`~seal_ros.errors.NetworkPolicyError`, before any participant exists) unless
  discovery is localhost-only and a domain id is set; elsewhere it only starts rclpy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seal_ros.errors import NetworkPolicyError

__all__ = ["LOOPBACK_FLAG", "check_loopback", "fastdds_profile", "init_rclpy", "loopback_env"]

LOOPBACK_FLAG = "SEAL_LOOPBACK_ONLY"
"""Set to ``1`` where no participant may be visible beyond this machine (tests, CI)."""

DISCOVERY_RANGE = "ROS_AUTOMATIC_DISCOVERY_RANGE"
DOMAIN_ID = "ROS_DOMAIN_ID"
FASTDDS_PROFILES = "FASTDDS_DEFAULT_PROFILES_FILE"


def fastdds_profile() -> Path | None:
    """``config/fastdds.xml`` (UDP on loopback with 4 MiB buffers, shared memory): from the
    source tree, or where the package's data files are installed."""
    for path in (Path(__file__).resolve().parents[2] / "config" / "fastdds.xml",
                 Path(sys.prefix) / "share" / "seal_ros" / "config" / "fastdds.xml"):
        if path.is_file():
            return path
    return None


def loopback_env(domain_id: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) plus what keeps ROS 2 and Cyclone on
    loopback, on DDS domain ``domain_id``."""
    from seal_ros.adapters.dds import LOOPBACK_XML

    if not 0 <= int(domain_id) <= 232:
        raise NetworkPolicyError(f"domain id {domain_id} is outside 0..232")
    env = dict(os.environ if base is None else base)
    env.update({
        LOOPBACK_FLAG: "1",
        DISCOVERY_RANGE: "LOCALHOST",
        DOMAIN_ID: str(int(domain_id)),
        "ROS_STATIC_PEERS": "",
        "CYCLONEDDS_URI": LOOPBACK_XML,
        "RMW_IMPLEMENTATION": env.get("RMW_IMPLEMENTATION") or "rmw_fastrtps_cpp",
    })
    profile = fastdds_profile()
    if profile is not None:  # large best-effort clouds from Cyclone arrive whole
        env[FASTDDS_PROFILES] = str(profile)
    env.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; Kilted warns when it is set
    return env


def check_loopback(env: Mapping[str, str] | None = None) -> None:
    """Raise :class:`NetworkPolicyError` where the loopback rule is on and ``env`` breaks it."""
    env = os.environ if env is None else env
    if env.get(LOOPBACK_FLAG, "") != "1":
        return
    problems = []
    if env.get(DISCOVERY_RANGE, "") != "LOCALHOST":
        problems.append(f"{DISCOVERY_RANGE} is {env.get(DISCOVERY_RANGE)!r}, expected 'LOCALHOST'")
    if not env.get(DOMAIN_ID, "").strip().isdigit():
        problems.append(f"{DOMAIN_ID} is {env.get(DOMAIN_ID)!r}, expected this run's own id")
    if env.get("ROS_STATIC_PEERS", "").strip():
        problems.append(f"ROS_STATIC_PEERS is {env['ROS_STATIC_PEERS']!r}, expected empty")
    if problems:
        raise NetworkPolicyError(
            f"{LOOPBACK_FLAG}=1 but a ROS 2 participant would be visible beyond this machine: "
            + "; ".join(problems) + " (seal_ros.adapters.loopback.loopback_env sets them)")


def init_rclpy(args: Sequence[str] | None = None, **kwargs: Any) -> Any:
    """Check the loopback rule, then ``rclpy.init(args=..., **kwargs)``; returns rclpy."""
    check_loopback()
    import rclpy

    rclpy.init(args=list(args) if args is not None else None, **kwargs)
    return rclpy
