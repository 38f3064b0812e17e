"""Node parameters: one dataclass, read from a ROS 2 parameter file or plain YAML.

The file is ``config/segment.param.yaml``, in ROS 2's layout (``/**: ros__parameters: {...}``) so
``ros2 launch`` can hand it to the node unchanged; the DDS node and the replay tool read the same
file. Nested keys may also be written dotted (``filter.classes``), as ROS 2 flattens them. Unknown
keys are errors that name the file and the key. Values are typed and checked by the one config
loader, :mod:`seal_ros.config_files`; this module adds ROS 2's file layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seal_ros.config_files import merge, nest, read_yaml, resolve
from seal_ros.core.engine_names import ENGINES, PRECISIONS
from seal_ros.errors import ConfigError

__all__ = ["CameraParams", "DiagnosticsParams", "FilterParams", "NodeParams", "load_params"]


@dataclass(frozen=True)
class FilterParams:
    """The ``~/output/filtered`` cloud: the input minus points of ``classes`` predicted with
    probability >= ``probability_threshold`` (Autoware FRNet's ``filter.*``)."""

    classes: tuple[str, ...] = ()
    probability_threshold: float = 0.5


@dataclass(frozen=True)
class DiagnosticsParams:
    """``/diagnostics``: WARN when one scan takes longer than ``max_allowed_processing_time_ms``,
    ERROR when that lasts over ``max_acceptable_consecutive_delay_ms`` (Autoware's values)."""

    max_allowed_processing_time_ms: float = 200.0
    max_acceptable_consecutive_delay_ms: float = 1000.0
    period_ms: float = 1000.0  # publishing period of the status


@dataclass(frozen=True)
class CameraParams:
    """Per-camera label overlays. Topics are ``<name>/image`` and ``<name>/camera_info`` under the
    node's ``~/input/`` namespace; the lidar->camera transform comes from ``/tf_static`` (frame ids
    of the cloud and of the CameraInfo) unless ``lidar_to_camera`` (4x4, row-major, 16 numbers)
    is given for that camera in ``extrinsics``."""

    names: tuple[str, ...] = ()
    extrinsics: dict[str, list[float]] = field(default_factory=dict)
    max_delay_ms: float = 100.0  # use an image only if |image stamp - cloud stamp| is below this
    point_radius_px: int = 2


@dataclass(frozen=True)
class NodeParams:
    """Everything the segmentation node is configured with (besides its topic remappings)."""

    model_path: str = ""  # model package YAML (or its folder)
    engine: str = "onnxruntime"  # torch | gather | onnxruntime | tensorrt
    precision: str = "fp16"  # tensorrt only: fp16 | fp32
    build_only: bool = False  # tensorrt: build / find the cached engine, then exit
    device: str = "cpu"  # cpu | cuda (torch/gather engines, kernel maps)
    threads: int = 0  # intra-op threads (0: library default)
    queue_size: int = 1  # newest input scans kept waiting (processed in order); older ones dropped
    frame_id: str = ""  # output frame; empty: the input cloud's
    filter: FilterParams = field(default_factory=FilterParams)
    diagnostics: DiagnosticsParams = field(default_factory=DiagnosticsParams)
    cameras: CameraParams = field(default_factory=CameraParams)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine {self.engine!r}: expected one of {list(ENGINES)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision {self.precision!r}: expected one of {list(PRECISIONS)}")
        if self.queue_size < 1:
            raise ConfigError(f"queue_size {self.queue_size}: expected >= 1")


def load_params(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
                ) -> NodeParams:
    """Read node parameters.

    Args:
        path: a ROS 2 parameter file (``/**`` or ``<node name>`` -> ``ros__parameters``) or a
            plain mapping of parameters; None for the defaults.
        overrides: ``{"filter.classes": [...], "engine": "gather"}``, applied last.

    Raises:
        ConfigError: unreadable file, unknown key or wrong type (names the file and the key).
    """
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if path is not None:
        raw = read_yaml(path, "parameter")
        sections = [v["ros__parameters"] for v in raw.values()
                    if isinstance(v, dict) and "ros__parameters" in v]
        data: dict[str, Any] = {}
        for section in sections or [raw]:
            data = merge(data, nest(section or {}))
        layers.append((str(path), data))
    return resolve(NodeParams, *layers, ("", overrides or {}), noun="parameters")
