"""Node parameters: ROS 2's file layout on the shared typed loader; errors name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from seal_ros.errors import ConfigError
from seal_ros.node.params import CameraParams, FilterParams, NodeParams, load_params


def test_ros_layout_dotted_keys_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("/**:\n  ros__parameters:\n    queue_size: 2\n    filter.classes: [car]\n"
                    "    filter:\n      probability_threshold: 0.8\n"
                    "    cameras:\n      extrinsics: {cam_front: [1, 0, 0, 0]}\n")
    params = load_params(path, {"cameras.names": ["cam_front"], "queue_size": 3,
                                "cameras.extrinsics.cam_back": [0.5]})
    assert params == NodeParams(
        queue_size=3, filter=FilterParams(("car",), 0.8),
        cameras=CameraParams(names=("cam_front",),
                             extrinsics={"cam_front": [1.0, 0.0, 0.0, 0.0], "cam_back": [0.5]}))
    assert load_params(None) == NodeParams()


def test_plain_mapping_and_errors_naming_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text("engine: gather\nthreads: two\n")
    with pytest.raises(ConfigError, match=r"plain.yaml: threads: expected an integer, got 'two'"):
        load_params(path)
    path.write_text("filter: {clases: [car]}\n")
    with pytest.raises(ConfigError, match=r"plain.yaml: unknown parameters \['filter.clases'\]"):
        load_params(path)
    with pytest.raises(ConfigError, match=r"none.yaml: no such parameter file"):
        load_params(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match=r"^filter.probability_threshold: expected a number"):
        load_params(None, {"filter.probability_threshold": "high"})
