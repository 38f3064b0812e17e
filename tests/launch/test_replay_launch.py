"""launch/replay.launch.py without ROS: it declares its own arguments plus every argument of
segment.launch.py except use_sim_time, includes segment.launch.py on simulated time, and plays
the bag with --clock after the delay."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"),
                                                  ROOT / "launch" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replay_wraps_segment_on_sim_time(fake_ros) -> None:
    replay, segment = _load("replay.launch"), _load("segment.launch")
    entities = replay.generate_launch_description().args[0]
    declared = [e.args[0] for e in entities if type(e).__name__ == "DeclareLaunchArgument"]
    assert declared == ["bag", "rate", "play_delay_s"] + [
        a[0] for a in segment.ARGUMENTS if a[0] != "use_sim_time"]
    include, = [e for e in entities if type(e).__name__ == "IncludeLaunchDescription"]
    assert include.args[0].args[0] == str(ROOT / "launch" / "segment.launch.py")
    passed = dict(include.kwargs["launch_arguments"])
    assert passed.pop("use_sim_time") == "true"
    assert set(passed) == {a[0] for a in segment.ARGUMENTS} - {"use_sim_time"}
    assert all(value.args == (name,) for name, value in passed.items())  # forwarded as given
    timer, = [e for e in entities if type(e).__name__ == "TimerAction"]
    assert timer.kwargs["period"].args == ("play_delay_s",)
    play, = timer.kwargs["actions"]
    cmd = play.kwargs["cmd"]
    assert cmd[:3] == ["ros2", "bag", "play"] and "--clock" in cmd
    assert cmd[3].args == ("bag",) and cmd[cmd.index("-r") + 1].args == ("rate",)
