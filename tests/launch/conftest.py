"""Recording stand-ins for ``launch`` / ``launch_ros`` (the launch files import them lazily)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

ENTITIES = {
    "launch": ("LaunchDescription",),
    "launch.actions": ("DeclareLaunchArgument", "ExecuteProcess", "IncludeLaunchDescription",
                       "OpaqueFunction", "TimerAction"),
    "launch.launch_description_sources": ("PythonLaunchDescriptionSource",),
    "launch.substitutions": ("LaunchConfiguration", "PathJoinSubstitution"),
    "launch_ros": (),
    "launch_ros.actions": ("Node",),
    "launch_ros.substitutions": ("FindPackageShare",),
}


class Recorded:
    """Stand-in for a launch entity or substitution: keeps its arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


@pytest.fixture
def fake_ros(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, classes in ENTITIES.items():
        module = types.ModuleType(name)
        for cls in classes:
            setattr(module, cls, type(cls, (Recorded,), {}))
        monkeypatch.setitem(sys.modules, name, module)
    # The source tree is laid out like the installed share folder (config/rviz/seal.rviz).
    for name in ("ament_index_python", "ament_index_python.packages"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["ament_index_python.packages"].get_package_share_directory = \
        lambda package: str(ROOT)
