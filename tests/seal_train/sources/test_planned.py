"""PlannedSource: what ``on_error`` does to frames that fail to plan or to load."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from seal_ros.errors import DatasetError
from seal_train.sources.frame import Frame
from seal_train.sources.planned import FrameError, PlannedSource


class _Numbers(PlannedSource[int]):
    """Plans 0..n-1; odd plans fail to load, plans listed in ``unplannable`` fail to plan."""

    def __init__(self, n: int, unplannable: tuple[int, ...] = (), on_error: str = "raise") -> None:
        super().__init__(on_error)  # type: ignore[arg-type]
        for i in range(n):
            if i in unplannable:
                self._reject(FrameError("unplannable", f"plan {i}"))
            else:
                self._plans.append(i)
        self._log_skipped("numbers")

    def load(self, plan: int) -> Frame:
        if plan % 2:
            raise FrameError("odd", f"frame {plan} is odd")
        return Frame(frame_id=str(plan), sequence="s", points=np.zeros((1, 3), np.float32),
                     channels=("x", "y", "z"), stamp_ns=plan, T_ego_lidar=np.eye(4),
                     T_world_ego=np.eye(4))


def test_on_error_is_checked() -> None:
    with pytest.raises(DatasetError, match="on_error must be 'raise' or 'skip', got 'ignore'"):
        _Numbers(1, on_error="ignore")


def test_raise_mode_raises_while_planning_and_loading() -> None:
    with pytest.raises(FrameError, match="plan 1"):
        _Numbers(3, unplannable=(1,))
    source = _Numbers(3)
    assert len(source) == 3 and source[2].frame_id == "2"
    with pytest.raises(FrameError, match="frame 1 is odd"):
        list(source)


def test_skip_mode_counts_per_reason_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=__name__):
        source = _Numbers(6, unplannable=(4,), on_error="skip")
        assert [f.frame_id for f in source] == ["0", "2"]
        source._reject(FrameError("sequence", "broken"), count=4)
    assert source.skipped == {"unplannable": 1, "odd": 3, "sequence": 4}
    assert {r.name for r in caplog.records} == {__name__}  # the reader's own logger
    assert "numbers: skipped 1 frames" in caplog.text and "skipping frame: frame 5" in caplog.text
    assert "skipping 4 frames: broken" in caplog.text
    with pytest.raises(FrameError, match="frame 1 is odd"):  # indexing raises in either mode
        source[1]
