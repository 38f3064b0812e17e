"""``/diagnostics`` for the node: processing time (Autoware's rule) and the health of the input.

- ``<node>: processing_time``: OK; WARN when the last scan took longer than
  ``max_allowed_processing_time_ms``; ERROR when scans have been over that limit for longer than
  ``max_acceptable_consecutive_delay_ms`` in a row.
- ``<node>: input``: OK while scans are processed; WARN naming the reason and the message when the
  last input was skipped. Values carry the counters (received, processed, dropped, skipped per
  reason), so a monitor sees totals without subscribing to anything else.

All state is a few numbers and one dict keyed by reason: nothing grows with the message count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seal_ros.node.params import DiagnosticsParams

__all__ = ["DiagnosticsMonitor", "Level", "NodeCounters"]


class Level:
    """``diagnostic_msgs/DiagnosticStatus`` levels."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclass
class NodeCounters:
    """What happened to the input scans since start."""

    received: int = 0
    processed: int = 0
    dropped: int = 0  # pushed out of the pending slot by newer scans (keep-last)
    idle: int = 0  # taken while no output had a subscriber: not computed
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    nonfinite_points: int = 0  # points left out of the network (NaN/inf), all scans
    out_of_range_points: int = 0  # finite points left out: beyond the voxel grid, all scans

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        """The line both node adapters print when they stop."""
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        return (f"stopped: received {self.received}, processed {self.processed}, dropped "
                f"{self.dropped}, idle {self.idle}, skipped {self.skipped_total} ({skipped})")


class DiagnosticsMonitor:
    """Turns processing times and skips into diagnostic statuses."""

    def __init__(self, params: DiagnosticsParams, node_name: str) -> None:
        self.params = params
        self.node_name = node_name
        self.last_processing_ms: float | None = None
        self._over_since_ns: int | None = None  # start of the current run of over-limit scans
        self._over_for_ms = 0.0
        self.last_skip: tuple[str, str] | None = None  # (reason, message) of the last input
        self._last_publish_ns: int | None = None

    def record_processing(self, processing_ms: float, end_ns: int) -> None:
        """A scan finished at monotonic ``end_ns`` after ``processing_ms``."""
        self.last_processing_ms = processing_ms
        self.last_skip = None
        if processing_ms > self.params.max_allowed_processing_time_ms:
            if self._over_since_ns is None:
                self._over_since_ns = end_ns - int(processing_ms * 1e6)
            self._over_for_ms = (end_ns - self._over_since_ns) / 1e6
        else:
            self._over_since_ns = None
            self._over_for_ms = 0.0

    def record_skip(self, reason: str, message: str) -> None:
        self.last_skip = (reason, message)

    def due(self, now_ns: int) -> bool:
        """True when ``period_ms`` has passed since the last :meth:`statuses` (or never ran)."""
        return (self._last_publish_ns is None
                or (now_ns - self._last_publish_ns) / 1e6 >= self.params.period_ms)

    def processing_level(self) -> tuple[int, str]:
        p = self.params
        last = self.last_processing_ms
        if last is None:
            return Level.OK, "no scan processed yet"
        if self._over_since_ns is not None and \
                self._over_for_ms > p.max_acceptable_consecutive_delay_ms:
            return Level.ERROR, (f"processing over {p.max_allowed_processing_time_ms:g} ms for "
                                 f"{self._over_for_ms:.0f} ms (> max_acceptable_consecutive_"
                                 f"delay_ms {p.max_acceptable_consecutive_delay_ms:g})")
        if last > p.max_allowed_processing_time_ms:
            return Level.WARN, (f"processing took {last:.1f} ms (> max_allowed_processing_time_ms "
                                f"{p.max_allowed_processing_time_ms:g})")
        return Level.OK, f"processing took {last:.1f} ms"

    def statuses(self, counters: NodeCounters, now_ns: int
                 ) -> list[tuple[int, str, str, dict[str, str]]]:
        """``(level, name, message, values)`` of both statuses; marks the publication time."""
        self._last_publish_ns = now_ns
        level, message = self.processing_level()
        timing = {"last_processing_ms": "" if self.last_processing_ms is None
                  else f"{self.last_processing_ms:.3f}",
                  "consecutive_over_limit_ms": f"{self._over_for_ms:.1f}"}
        if self.last_skip is not None:
            reason, text = self.last_skip
            in_level, in_message = Level.WARN, f"skipped a message ({reason}): {text}"
        else:
            in_level, in_message = Level.OK, "input scans are processed"
        values = {"received": str(counters.received), "processed": str(counters.processed),
                  "dropped": str(counters.dropped), "idle": str(counters.idle),
                  "skipped": str(counters.skipped_total),
                  "nonfinite_points": str(counters.nonfinite_points),
                  "out_of_range_points": str(counters.out_of_range_points)}
        values.update({f"skipped.{reason}": str(n) for reason, n in
                       sorted(counters.skipped.items())})
        return [(level, f"{self.node_name}: processing_time", message, timing),
                (in_level, f"{self.node_name}: input", in_message, values)]
