"""Builders shared by the node tests: tiny random-weight models, packages, clouds, a test IO."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seal_ros import interfaces
from seal_ros.core import codec
from seal_ros.core.minkunet import build_minkunet
from seal_ros.core.synthetic_scan import lidar_like_scan
from seal_ros.core.voxelize import VoxelGrid
from seal_ros.model_package import InputSpec, ModelPackage, Profile

NUSCENES_CLASSES = ("ignore", "barrier", "bicycle", "bus", "car", "construction_vehicle",
                    "motorcycle", "pedestrian", "traffic_cone", "trailer", "truck",
                    "driveable_surface", "other_flat", "sidewalk", "terrain", "manmade",
                    "vegetation")
STORE = interfaces.typestore()


def tiny_state(num_classes: int = len(NUSCENES_CLASSES), seed: int = 0,
               planes: int = 8) -> dict[str, torch.Tensor]:
    """spconv MinkUNet state dict of a small random network (1 block per stage)."""
    torch.manual_seed(seed)
    model = build_minkunet(in_channels=1, out_channels=num_classes, layers=(1,) * 8,
                           planes=(planes,) * 8, init_dim=planes).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding is exercised
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        head = model.head  # a strong head with no bias: many classes predicted, not one
        head.weight.mul_(30.0)
        head.bias.zero_()
    return {k: v.clone() for k, v in model.state_dict().items()}


def write_package(folder: Path, state: dict[str, torch.Tensor] | None = None,
                  class_names: tuple[str, ...] = NUSCENES_CLASSES, onnx: str = "model.onnx",
                  points: tuple[int, int, int] = (100, 20_000, 150_000),
                  voxels: tuple[int, int, int] = (50, 20_000, 150_000),
                  model_id: str = "tiny-minkunet@test") -> Path:
    """A model package YAML (+ checkpoint) in ``folder``; returns the YAML path."""
    folder.mkdir(parents=True, exist_ok=True)
    state = tiny_state(len(class_names)) if state is None else state
    torch.save({"model": {f"backbone.{k}": v for k, v in state.items()}}, folder / "model.pt")
    rng = np.random.default_rng(len(class_names))
    palette = [[0, 0, 0]] + rng.integers(40, 256, (len(class_names) - 1, 3)).tolist()
    package = ModelPackage(
        model_id=model_id, onnx=folder / onnx, class_names=class_names,
        palette=tuple(tuple(c) for c in palette), ignore_id=0, grid=VoxelGrid.cylindrical(),
        input=InputSpec(fields=("x", "y", "z", "intensity"), features=("intensity",),
                        feature_scale=(1.0,)),
        profile=Profile(points=points, voxels=voxels),
        network={"backbone": "minkunet-tiny", "in_channels": 1,
                 "num_classes": len(class_names), "stem_kernel": 3},
        checkpoint=folder / "model.pt")
    return package.save(folder / "model.yaml")


def cloud_message(columns: dict[str, np.ndarray], stamp_ns: int = 1_700_000_000_000_000_000,
                  frame_id: str = "lidar_top", **encode_kwargs: Any) -> Any:
    """A rosbags PointCloud2 of named columns."""
    cloud = codec.encode(columns, stamp_ns=stamp_ns, frame_id=frame_id, **encode_kwargs)
    return to_message(cloud)


def to_message(cloud: codec.CloudData) -> Any:
    T = STORE.types
    header = T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=cloud.stamp_ns // 10**9,
                                               nanosec=cloud.stamp_ns % 10**9),
        frame_id=cloud.frame_id)
    return cloud.to_message(T["sensor_msgs/msg/PointCloud2"], T["sensor_msgs/msg/PointField"],
                            header)


def random_scan(n: int = 6000, seed: int = 0) -> dict[str, np.ndarray]:
    """The synthetic scan (``seal_ros.core.synthetic_scan``) as columns: x, y, z, intensity
    float32 + ring uint16."""
    xyz, intensity = lidar_like_scan(n, seed)
    ring = np.random.default_rng(seed).integers(0, 32, n).astype(np.uint16)
    return {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "intensity": intensity[:, 0],
            "ring": ring}


class RecordingIO:
    """NodeIO that keeps what the node publishes (tests only); subscribers are a set of topics."""

    def __init__(self, subscribed: set[str] | None = None, all_outputs: bool = True) -> None:
        self.subscribed = subscribed
        self.all_outputs = all_outputs
        self.published: list[tuple[str, Any]] = []
        self.queried: list[str] = []
        self.lock = threading.Lock()

    def publish(self, topic: str, msg: Any) -> None:
        with self.lock:
            self.published.append((topic, msg))

    def has_subscribers(self, topic: str) -> bool:
        self.queried.append(topic)
        return self.all_outputs if self.subscribed is None else topic in self.subscribed

    def now_ns(self) -> int:
        return time.time_ns()

    def on(self, topic: str) -> list[Any]:
        with self.lock:
            return [m for t, m in self.published if t == topic]
