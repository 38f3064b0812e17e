"""Replay a rosbag2 recording through the segmentation node on simulated time.

Usage::

    ros2 launch seal_ros replay.launch.py bag:=drive/scene-0000 model_path:=/models/seal-nus \\
        input_topic:=/lidar_top/points cameras:=cam_front rviz:=true

Starts ``segment.launch.py`` with ``use_sim_time:=true`` (every other argument of it is accepted
here and passed on), then, after ``play_delay_s`` (engine loading and warm-up), ``ros2 bag play
<bag> --clock -r <rate>``. The recording must not contain ``/clock`` itself. For a deterministic,
ROS-free replay with mIoU and latency figures use ``python -m seal_ros.replay`` instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# (name, default, description, choices); default None = required.
OWN_ARGUMENTS: tuple[tuple[str, str | None, str, tuple[str, ...] | None], ...] = (
    ("bag", None, "rosbag2 folder (or file) to play", None),
    ("rate", "1.0", "playback rate (ros2 bag play -r)", None),
    ("play_delay_s", "5.0", "seconds between starting the node and playing the bag", None),
)


def segment_launch() -> Any:
    """``segment.launch.py`` next to this file (source tree or installed share folder)."""
    spec = importlib.util.spec_from_file_location("seal_segment_launch",
                                                  HERE / "segment.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def forwarded_arguments() -> list[tuple[str, str | None, str, tuple[str, ...] | None]]:
    """segment.launch.py's arguments minus use_sim_time (always true here)."""
    return [a for a in segment_launch().ARGUMENTS if a[0] != "use_sim_time"]


def bag_play_command(bag: Any, rate: Any) -> list[Any]:
    return ["ros2", "bag", "play", bag, "--clock", "-r", rate]


def generate_launch_description() -> Any:
    from launch.actions import ExecuteProcess, IncludeLaunchDescription, TimerAction
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import LaunchConfiguration

    from launch import LaunchDescription

    segment = segment_launch()
    forwarded = forwarded_arguments()
    declared = segment.declare_arguments([*OWN_ARGUMENTS, *forwarded])
    passed: dict[str, Any] = {name: LaunchConfiguration(name) for name, *_ in forwarded}
    passed["use_sim_time"] = "true"
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(HERE / "segment.launch.py")),
        launch_arguments=list(passed.items()))
    play = TimerAction(period=LaunchConfiguration("play_delay_s"), actions=[ExecuteProcess(
        cmd=bag_play_command(LaunchConfiguration("bag"), LaunchConfiguration("rate")),
        output="screen")])
    return LaunchDescription([*declared, include, play])
