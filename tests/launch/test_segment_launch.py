"""launch/segment.launch.py and config/rviz/seal.rviz without ROS.

``launch`` / ``launch_ros`` are replaced by small recording stand-ins (the launch file imports them
only inside its functions), so the test runs the real launch logic: declared arguments, the
node's parameters and remappings, and the RViz config it writes, checked against the node's own
topic table (``seal_ros.node.core``).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from seal_ros.node.params import ENGINES, NodeParams, load_params
from seal_ros.node.topics import publications, subscriptions

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / "launch" / "segment.launch.py"
RVIZ_FILE = ROOT / "config" / "rviz" / "seal.rviz"


def _load_launch_file() -> Any:
    spec = importlib.util.spec_from_file_location("segment_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _context(**overrides: str) -> Any:
    module = _load_launch_file()
    config = {name: default for name, default, _, _ in module.ARGUMENTS if default is not None}
    config["params_file"] = str(ROOT / "config" / "segment.param.yaml")
    config.update(overrides)
    return types.SimpleNamespace(launch_configurations=config)


def _actions(fake_ros: None, **overrides: str) -> list[Any]:
    module = _load_launch_file()
    description = module.generate_launch_description()
    opaque = description.args[0][-1]
    return opaque.kwargs["function"](_context(**overrides))


def test_imports_without_ros() -> None:
    for name in ("launch", "launch_ros"):
        if name in sys.modules:
            pytest.skip(f"{name} is already imported (ROS environment)")
    module = _load_launch_file()
    assert callable(module.generate_launch_description)
    assert "launch" not in sys.modules and "launch_ros" not in sys.modules


def test_declares_exactly_the_documented_arguments(fake_ros) -> None:
    module = _load_launch_file()
    entities = module.generate_launch_description().args[0]
    declared = {e.args[0]: e.kwargs for e in entities if type(e).__name__ ==
                "DeclareLaunchArgument"}
    assert list(declared) == ["model_path", "input_topic", "output_prefix", "engine",
                              "precision", "params_file", "build_only", "use_sim_time",
                              "cameras", "rviz", "rviz_fixed_frame"]
    assert "default_value" not in declared["model_path"]  # required
    assert declared["input_topic"]["default_value"] == "/points"
    assert declared["output_prefix"]["default_value"] == "/seal_segmentation/output"
    assert declared["engine"]["choices"] == list(ENGINES)
    assert declared["engine"]["default_value"] == NodeParams().engine
    assert declared["precision"]["default_value"] == NodeParams().precision
    assert declared["build_only"]["choices"] == ["true", "false"]
    share = declared["params_file"]["default_value"]
    assert share.args[0][0].args == ("seal_ros",) and share.args[0][1:] == ["config",
                                                                            "segment.param.yaml"]
    for name, kwargs in declared.items():
        assert kwargs["description"], name
        assert name in module.__doc__ or name in {"params_file", "rviz_fixed_frame"} or \
            f"{name}:=" in module.__doc__


def test_node_remappings_cover_the_node_topics(fake_ros) -> None:
    node, = _actions(fake_ros, model_path="/m", input_topic="/lidar_top/points",
                     output_prefix="/perception/seal", cameras="cam_front, cam_back")
    assert node.kwargs["package"] == "seal_ros"
    assert node.kwargs["executable"] == node.kwargs["name"] == "seal_segmentation"
    remaps = dict(node.kwargs["remappings"])
    params = load_params(None, {"cameras.names": ["cam_front", "cam_back"]})
    node_topics = {e.topic for e in subscriptions(params) + publications(params)}
    private = {t for t in node_topics if t.startswith("~")}
    assert set(remaps) == private  # every node-private topic, nothing else
    assert remaps["~/input/pointcloud"] == "/lidar_top/points"
    assert remaps["~/output/segmentation"] == "/perception/seal/segmentation"
    assert remaps["~/output/info"] == "/perception/seal/info"
    assert remaps["~/input/cam_back/image"] == "/cam_back/image_raw"
    assert remaps["~/input/cam_back/camera_info"] == "/cam_back/camera_info"
    assert remaps["~/output/cam_front/overlay"] == "/perception/seal/cam_front/overlay"


def test_node_parameters_override_the_file(fake_ros) -> None:
    node, = _actions(fake_ros, model_path="/models/seal", engine="tensorrt", precision="fp32",
                     build_only="true", use_sim_time="true", cameras="cam_front")
    params_file, overrides = node.kwargs["parameters"]
    assert params_file == str(ROOT / "config" / "segment.param.yaml")
    assert overrides == {"model_path": "/models/seal", "engine": "tensorrt",
                         "precision": "fp32", "build_only": True, "use_sim_time": True,
                         "cameras.names": ["cam_front"]}
    merged = load_params(params_file, {k: v for k, v in overrides.items()
                                       if k != "use_sim_time"})
    assert merged.engine == "tensorrt" and merged.build_only is True


def test_no_cameras_leaves_the_list_unset(fake_ros) -> None:
    node, = _actions(fake_ros, model_path="/m")
    assert "cameras.names" not in node.kwargs["parameters"][1]
    assert node.kwargs["parameters"][1]["build_only"] is False


def test_bad_flag_names_the_argument(fake_ros) -> None:
    with pytest.raises(ValueError, match="build_only:='yes'"):
        _actions(fake_ros, model_path="/m", build_only="yes")


def _rviz_topics(path: Path) -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(path.read_text())
    displays = config["Visualization Manager"]["Displays"]
    return {d["Name"]: d for d in displays if "Topic" in d}


def test_rviz_config_shows_what_the_launch_publishes() -> None:
    module = _load_launch_file()
    defaults = {name: default for name, default, _, _ in module.ARGUMENTS if default is not None}
    published = dict(module.remappings(defaults["input_topic"], defaults["output_prefix"],
                                       [module.RVIZ_CAMERA]))
    displays = _rviz_topics(RVIZ_FILE)
    topics = {d["Topic"]["Value"] for d in displays.values()}
    assert topics == {published["~/output/visualization"], published["~/output/segmentation"],
                      published["~/output/filtered"],
                      published[f"~/output/{module.RVIZ_CAMERA}/overlay"]}
    by_topic = {d["Topic"]["Value"]: d for d in displays.values()}
    seg = by_topic[published["~/output/segmentation"]]
    assert seg["Color Transformer"] == "Intensity" and seg["Channel Name"] == "class_id"
    assert seg["Autocompute Intensity Bounds"] is False
    assert by_topic[published["~/output/visualization"]]["Color Transformer"] == "RGB8"
    for display in displays.values():  # the node publishes these best effort (sensor data)
        assert display["Topic"]["Reliability Policy"] == "Best Effort"
    classes = {d["Class"] for d in displays.values()}
    assert classes == {"rviz_default_plugins/PointCloud2", "rviz_default_plugins/Image"}


def test_rviz_follows_prefix_camera_and_frame(fake_ros) -> None:
    node, rviz = _actions(fake_ros, model_path="/m", output_prefix="/perception/seal",
                          cameras="cam_back", rviz="true", rviz_fixed_frame="lidar_top")
    assert rviz.kwargs["package"] == "rviz2"
    args = rviz.kwargs["arguments"]
    assert args[args.index("-f") + 1] == "lidar_top"
    written = Path(args[args.index("-d") + 1])
    remaps = dict(node.kwargs["remappings"])
    topics = {d["Topic"]["Value"] for d in _rviz_topics(written).values()}
    assert topics == {remaps["~/output/visualization"], remaps["~/output/segmentation"],
                      remaps["~/output/filtered"], remaps["~/output/cam_back/overlay"]}
    assert _actions(fake_ros, model_path="/m", rviz="true", build_only="true")[1:] == []
