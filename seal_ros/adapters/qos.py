"""ROS 2's QoS profiles for the DDS transport, and their cyclonedds equivalents.

A reader matches a writer only when its QoS asks no more than the writer offers (a reliable reader
misses best-effort publishers), so the profiles below are the ones ROS 2 nodes use for each kind of
topic; :mod:`seal_ros.adapters.dds` applies them to its endpoints.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from seal_ros.errors import TransportError

__all__ = ["DEFAULT", "LATCHED", "SENSOR_DATA", "Durability", "QosProfile", "Reliability"]


class Reliability(enum.Enum):
    """DDS reliability: a best-effort reader matches any writer, a reliable one only reliable."""

    BEST_EFFORT = "best_effort"
    RELIABLE = "reliable"


class Durability(enum.Enum):
    """DDS durability: transient-local writers replay their history to late readers."""

    VOLATILE = "volatile"
    TRANSIENT_LOCAL = "transient_local"


@dataclass(frozen=True, slots=True)
class QosProfile:
    """The QoS policies ROS 2 exposes: reliability, durability, keep-last depth.

    Attributes:
        reliability: best effort or reliable.
        durability: volatile or transient local (latched).
        depth: keep-last history depth (>= 1).
        max_blocking_ms: how long a reliable write may block on a full history (ROS: 100 ms).
    """

    reliability: Reliability
    durability: Durability
    depth: int
    max_blocking_ms: float = 100.0

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise TransportError(f"QoS depth is {self.depth}; keep-last needs depth >= 1")

    def to_cyclone(self) -> Any:
        """The equivalent ``cyclonedds.qos.Qos``, pinned to XCDR1 as rmw_cyclonedds_cpp uses."""
        from cyclonedds.qos import Policy, Qos
        from cyclonedds.util import duration

        reliability = (Policy.Reliability.BestEffort
                       if self.reliability is Reliability.BEST_EFFORT else
                       Policy.Reliability.Reliable(
                           max_blocking_time=duration(milliseconds=self.max_blocking_ms)))
        durability = (Policy.Durability.Volatile if self.durability is Durability.VOLATILE
                      else Policy.Durability.TransientLocal)
        return Qos(reliability, durability, Policy.History.KeepLast(self.depth),
                   Policy.DataRepresentation(use_cdrv0_representation=True))


SENSOR_DATA = QosProfile(Reliability.BEST_EFFORT, Durability.VOLATILE, 5)
"""``rmw_qos_profile_sensor_data``: sensor topics (input and output clouds, images)."""
DEFAULT = QosProfile(Reliability.RELIABLE, Durability.VOLATILE, 10)
"""``rmw_qos_profile_default`` / ``QoS(10)``: timings, diagnostics, /tf."""
LATCHED = QosProfile(Reliability.RELIABLE, Durability.TRANSIENT_LOCAL, 1)
"""Latched (``/tf_static``, ``SegmentationInfo``): late subscribers get the last sample."""
