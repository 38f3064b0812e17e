"""Test-wide settings: DDS traffic stays on loopback (multicast off), set before any participant."""

from __future__ import annotations

import os

from seal_ros.adapters.dds import LOOPBACK_XML

os.environ.setdefault("CYCLONEDDS_URI", LOOPBACK_XML)
