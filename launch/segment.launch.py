"""Launch the Seal segmentation node (rclpy) with its parameter file, remappings and RViz.

Usage::

    ros2 launch seal_ros segment.launch.py model_path:=/models/seal-nus
    ros2 launch seal_ros segment.launch.py model_path:=/models/seal-nus engine:=tensorrt \\
        build_only:=true                                  # build the engine once, then exit
    ros2 bag play drive/ --clock &
    ros2 launch seal_ros segment.launch.py model_path:=/models/seal-nus \\
        input_topic:=/lidar_top/points cameras:=cam_front,cam_back use_sim_time:=true rviz:=true

Topics (node-private names, see ``seal_ros.node``) are remapped as follows, ``<prefix>`` being the
``output_prefix`` argument and ``<cam>`` each name of ``cameras``:

===============================  ====================================
node name                        remapped to
===============================  ====================================
``~/input/pointcloud``           ``input_topic``
``~/input/<cam>/image``          ``/<cam>/image_raw``
``~/input/<cam>/camera_info``    ``/<cam>/camera_info``
``~/output/<name>``              ``<prefix>/<name>`` for segmentation, visualization, filtered,
                                 timing, info
``~/output/<cam>/overlay``       ``<prefix>/<cam>/overlay``
===============================  ====================================

The launch arguments ``model_path``, ``engine``, ``precision``, ``build_only`` and ``cameras``
override the same parameters of ``params_file``. ``launch`` / ``launch_ros`` are imported inside
:func:`generate_launch_description`, so this file imports without ROS (the tests read
:data:`ARGUMENTS`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seal_ros.core.engine_names import ENGINES, PRECISIONS
from seal_ros.node import NODE_NAME

PACKAGE = "seal_ros"
DEFAULT_PREFIX = f"/{NODE_NAME}/output"  # what the node's ~/output/* is without remapping
RVIZ_CONFIG = "config/rviz/seal.rviz"  # relative to the package share
RVIZ_CAMERA = "cam_front"  # camera of the overlay display in RVIZ_CONFIG
OUTPUTS = ("segmentation", "visualization", "filtered", "timing", "info")

# (name, default, description, choices); default None = required. Tests compare this table with
# what generate_launch_description() declares.
ARGUMENTS: tuple[tuple[str, str | None, str, tuple[str, ...] | None], ...] = (
    ("model_path", None, "model package: model.yaml or the folder `seal_train export` wrote",
     None),
    ("input_topic", "/points", "PointCloud2 topic to segment (-> ~/input/pointcloud)", None),
    ("output_prefix", DEFAULT_PREFIX, "namespace of the outputs (~/output/<name> -> "
     "<output_prefix>/<name>)", None),
    ("engine", "onnxruntime", "inference engine", ENGINES),
    ("precision", "fp16", "TensorRT precision", PRECISIONS),
    ("params_file", f"$(find-pkg-share {PACKAGE})/config/segment.param.yaml",
     "node parameter file (ROS 2 layout)", None),
    ("build_only", "false", "build the TensorRT engine, then exit", ("true", "false")),
    ("use_sim_time", "false", "follow /clock (bag replay with --clock)", ("true", "false")),
    ("cameras", "", "comma-separated camera names for label overlays; <cam> subscribes "
     "/<cam>/image_raw and /<cam>/camera_info", None),
    ("rviz", "false", "start RViz with config/rviz/seal.rviz", ("true", "false")),
    ("rviz_fixed_frame", "base_link", "RViz fixed frame (needs TF to the cloud's frame)", None),
)


def _flag(value: str, name: str) -> bool:
    text = value.strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise ValueError(f"launch argument {name}:={value!r}: expected true or false")
    return text in ("true", "1")


def camera_names(value: str) -> list[str]:
    """``"cam_front, cam_back"`` -> ``["cam_front", "cam_back"]``."""
    return [c.strip().strip("/") for c in value.split(",") if c.strip().strip("/")]


def remappings(input_topic: str, output_prefix: str, cameras: list[str]
               ) -> list[tuple[str, str]]:
    """Node-private names -> launch topics (the table in the module docstring)."""
    prefix = "/" + output_prefix.strip("/") if output_prefix.strip("/") else ""
    out = [("~/input/pointcloud", input_topic)]
    out += [(f"~/output/{name}", f"{prefix}/{name}") for name in OUTPUTS]
    for cam in cameras:
        out += [(f"~/input/{cam}/image", f"/{cam}/image_raw"),
                (f"~/input/{cam}/camera_info", f"/{cam}/camera_info"),
                (f"~/output/{cam}/overlay", f"{prefix}/{cam}/overlay")]
    return out


def node_parameters(config: dict[str, str]) -> list[Any]:
    """Parameter file, then the launch arguments that override its keys."""
    overrides: dict[str, Any] = {
        "model_path": config["model_path"],
        "engine": config["engine"],
        "precision": config["precision"],
        "build_only": _flag(config["build_only"], "build_only"),
        "use_sim_time": _flag(config["use_sim_time"], "use_sim_time"),
    }
    cameras = camera_names(config["cameras"])
    if cameras:  # an empty list has no ROS parameter type: leave the file's value
        overrides["cameras.names"] = cameras
    return [config["params_file"], overrides]


def rviz_config(template: Path, output_prefix: str, cameras: list[str]) -> Path:
    """The shipped RViz config with this launch's topics (prefix, first camera's overlay)."""
    prefix = "/" + output_prefix.strip("/") if output_prefix.strip("/") else ""
    text = template.read_text().replace(DEFAULT_PREFIX + "/", prefix + "/")
    if cameras:
        text = text.replace(f"/{RVIZ_CAMERA}/overlay", f"/{cameras[0]}/overlay")
    out = Path(tempfile.mkdtemp(prefix="seal_rviz_")) / "seal.rviz"
    out.write_text(text)
    return out


def _setup(context: Any) -> list[Any]:
    from launch_ros.actions import Node

    config = dict(context.launch_configurations)
    cameras = camera_names(config["cameras"])
    actions = [Node(package=PACKAGE, executable=NODE_NAME, name=NODE_NAME, output="screen",
                    parameters=node_parameters(config),
                    remappings=remappings(config["input_topic"], config["output_prefix"],
                                          cameras))]
    if _flag(config["rviz"], "rviz") and not _flag(config["build_only"], "build_only"):
        from ament_index_python.packages import get_package_share_directory

        template = Path(get_package_share_directory(PACKAGE)) / RVIZ_CONFIG
        actions.append(Node(
            package="rviz2", executable="rviz2", name="rviz2", output="screen",
            arguments=["-d", str(rviz_config(template, config["output_prefix"], cameras)),
                       "-f", config["rviz_fixed_frame"]],
            parameters=[{"use_sim_time": _flag(config["use_sim_time"], "use_sim_time")}]))
    return actions


def declare_arguments(arguments: Sequence[tuple[str, str | None, str, Any]]) -> list[Any]:
    """DeclareLaunchArgument per row of an :data:`ARGUMENTS`-style table."""
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    declared = []
    for name, default, description, choices in arguments:
        kwargs: dict[str, Any] = {"description": description}
        if name == "params_file":
            kwargs["default_value"] = PathJoinSubstitution(
                [FindPackageShare(PACKAGE), "config", "segment.param.yaml"])
        elif default is not None:
            kwargs["default_value"] = default
        if choices is not None:
            kwargs["choices"] = list(choices)
        declared.append(DeclareLaunchArgument(name, **kwargs))
    return declared


def generate_launch_description() -> Any:
    from launch.actions import OpaqueFunction

    from launch import LaunchDescription

    return LaunchDescription([*declare_arguments(ARGUMENTS), OpaqueFunction(function=_setup)])
