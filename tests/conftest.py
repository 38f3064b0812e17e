"""Test-wide settings: nothing leaves loopback. Set before any participant, inherited by every
process a test starts: Cyclone pinned to ``lo`` with multicast off; rclpy (Fast DDS) with
localhost-only discovery on a domain id of this run's own; ``SEAL_LOOPBACK_ONLY=1`` so
:func:`seal_ros.adapters.loopback.init_rclpy` refuses to start a participant without them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from seal_ros.adapters.loopback import loopback_env

# One domain per test run (0..232; 0 is everyone's default and is avoided).
DOMAIN_ID = int(os.environ.get("SEAL_TEST_DOMAIN_ID") or 1 + os.getpid() % 200)
os.environ.update(loopback_env(DOMAIN_ID))

# tests/support (shared helpers) importable as ``support`` from every test module. Both packages
# are imported first: tests/seal_ros and tests/seal_train would otherwise shadow them as namespace
# packages wherever the repository root is not on sys.path (e.g. the ``pytest`` entry script).
import seal_train  # noqa: E402, F401

sys.path.insert(0, str(Path(__file__).parent))
