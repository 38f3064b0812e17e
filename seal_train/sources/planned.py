"""What a dataset reader does with a bad frame, and its sequence API, in one place.

Every reader (KITTI, nuScenes, ROS bags) plans all frames when it is built, so a broken dataset
fails before any work, and loads a frame only when asked. They differ in what a plan holds; they
must agree on what ``on_error`` means, on how skipped frames are counted and logged, and on what
indexing and iterating do, so that switching formats changes no caller.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Generic, Literal, TypeVar

from seal_ros.errors import CountedError, DatasetError
from seal_train.sources.frame import Frame

OnError = Literal["raise", "skip"]
PlanT = TypeVar("PlanT")


class FrameError(CountedError, DatasetError):
    """A DatasetError about one frame (or a sequence of them), with the reason ``skipped`` counts.

    ``reason`` is a short key of :attr:`PlannedSource.skipped` (``bad_image``, ``poses``, ...).
    """


class PlannedSource(Generic[PlanT]):
    """Frames loaded on demand from plans made when the source is built.

    A subclass calls ``super().__init__(on_error)`` first, appends to ``_plans`` (passing each
    frame it cannot plan to :meth:`_reject`), calls :meth:`_log_skipped`, and defines :meth:`load`.
    Logs go to the subclass's module logger, so each format's messages stay filterable.

    Args:
        on_error: ``raise`` (the FrameError) or ``skip`` (count in :attr:`skipped` and warn).

    Attributes:
        skipped: frames left out, per :attr:`FrameError.reason`.
    """

    def __init__(self, on_error: OnError) -> None:
        if on_error not in ("raise", "skip"):
            raise DatasetError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error: OnError = on_error
        self.skipped: dict[str, int] = {}
        self._plans: list[PlanT] = []

    def _reject(self, err: FrameError, count: int = 1) -> None:
        """Raise ``err``, or with ``on_error="skip"`` count ``count`` frames under its reason."""
        if self.on_error == "raise":
            raise err
        self.skipped[err.reason] = self.skipped.get(err.reason, 0) + count
        logging.getLogger(type(self).__module__).warning(
            "skipping %s: %s", "frame" if count == 1 else f"{count} frames", err)

    def _log_skipped(self, where: object) -> None:
        """One warning with the skip counts of planning, if any frame was left out."""
        if self.skipped:
            logging.getLogger(type(self).__module__).warning(
                "%s: skipped %d frames: %s", where, sum(self.skipped.values()), self.skipped)

    def load(self, plan: PlanT) -> Frame:
        """Read one planned frame; a problem found only now raises a FrameError."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._plans)

    def __getitem__(self, index: int) -> Frame:
        """Frame ``index``; a frame that fails to load raises its FrameError in either mode."""
        return self.load(self._plans[index])

    def __iter__(self) -> Iterator[Frame]:
        """Every frame in order; with ``on_error="skip"`` frames that fail to load are counted."""
        for plan in self._plans:
            try:
                yield self.load(plan)
            except FrameError as err:
                self._reject(err)


__all__ = ["FrameError", "OnError", "PlannedSource"]
