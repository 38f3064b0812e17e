"""The node's output messages, built as rosbags typestore messages (the node's contract).

Clouds follow Autoware's segmentation nodes (DESIGN.md decision 5): ``segmentation`` (``x, y, z``,
``class_id`` uint8, ``probability`` float32), ``visualization`` (``x, y, z, rgb``) and ``filtered``
(the input's own layout, fields, point_step and byte order, minus the points of the filtered classes
predicted with probability >= threshold). Adapters convert these messages to their middleware.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from seal_ros.core import codec, output_clouds
from seal_ros.core.pipeline import UNLABELLED_ID, ScanResult
from seal_ros.errors import ConfigError
from seal_ros.model_package import ModelPackage

__all__ = ["MessageFactory", "filter_class_ids", "palette_lut"]


def palette_lut(package: ModelPackage) -> np.ndarray:
    """(256, 3) uint8 colour per class id (black beyond the classes, e.g. 255 = unlabelled)."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:package.num_classes] = np.asarray(package.palette, dtype=np.uint8).reshape(-1, 3)
    return lut


def filter_class_ids(package: ModelPackage, names: Sequence[str]) -> np.ndarray:
    """Class ids of ``filter.classes`` names.

    Raises:
        ConfigError: a name the package does not have (the message lists the classes).
    """
    unknown = [n for n in names if n not in package.class_names]
    if unknown:
        raise ConfigError(f"filter.classes {unknown}: not classes of model package "
                          f"{package.path or package.model_id} (it has "
                          f"{list(package.class_names)})")
    return np.asarray([package.class_names.index(n) for n in names], dtype=np.uint8)


class MessageFactory:
    """Builds the node's messages from a typestore (default: ROS 2 Humble + seal_msgs)."""

    def __init__(self, typestore: Any | None = None) -> None:
        if typestore is None:
            from seal_ros.interfaces import typestore as make_typestore

            typestore = make_typestore()
        self.types = typestore.types

    def header(self, stamp_ns: int, frame_id: str) -> Any:
        T = self.types
        stamp = T["builtin_interfaces/msg/Time"](sec=int(stamp_ns // 1_000_000_000),
                                                 nanosec=int(stamp_ns % 1_000_000_000))
        return T["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def cloud(self, cloud: codec.CloudData, frame_id: str | None = None) -> Any:
        """A ``sensor_msgs/PointCloud2`` of a :class:`~seal_ros.core.codec.CloudData`."""
        T = self.types
        header = self.header(cloud.stamp_ns, cloud.frame_id if frame_id is None else frame_id)
        return cloud.to_message(T["sensor_msgs/msg/PointCloud2"], T["sensor_msgs/msg/PointField"],
                                header)

    # ------------------------------------------------------------------------------ clouds --

    def segmentation(self, result: ScanResult, frame_id: str) -> Any:
        return self.cloud(output_clouds.encode_labelled(
            result.xyz, result.class_id, result.probability, stamp_ns=result.stamp_ns,
            frame_id=frame_id))

    def visualization(self, result: ScanResult, lut: np.ndarray, frame_id: str) -> Any:
        return self.cloud(output_clouds.encode_rgb(result.xyz, lut[result.class_id],
                                                   stamp_ns=result.stamp_ns, frame_id=frame_id))

    def filtered(self, result: ScanResult, class_ids: np.ndarray, threshold: float,
                 frame_id: str) -> Any:
        """The input minus points of ``class_ids`` with probability >= ``threshold``."""
        remove = np.isin(result.class_id, class_ids) & (result.probability >= threshold)
        points = result.points
        # Select whole points as raw bytes (padding included): copying the structured array
        # field by field would leave the padding bytes uninitialised.
        raw = points.view(np.dtype((np.void, points.dtype.itemsize)))
        kept = (raw[~remove] if remove.any() else np.ascontiguousarray(raw)).view(points.dtype)
        cloud = codec.encode(kept, stamp_ns=result.stamp_ns, frame_id=frame_id)
        return self.cloud(cloud)

    # ---------------------------------------------------------------------------- others --

    def image(self, rgb: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
        """``sensor_msgs/Image`` rgb8 of an (H, W, 3) uint8 array."""
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        height, width = rgb.shape[:2]
        return self.types["sensor_msgs/msg/Image"](
            header=self.header(stamp_ns, frame_id), height=height, width=width, encoding="rgb8",
            is_bigendian=0, step=width * 3, data=rgb.reshape(-1))

    def timing(self, stamp_ns: int, frame_id: str, stages_ms: dict[str, float], total_ms: float,
               num_points: int, num_voxels: int, dropped: int) -> Any:
        return self.types["seal_msgs/msg/SegmentationTiming"](
            header=self.header(stamp_ns, frame_id), stage_names=list(stages_ms),
            stage_ms=np.asarray(list(stages_ms.values()), dtype=np.float32),
            total_ms=float(total_ms), num_points=int(num_points), num_voxels=int(num_voxels),
            dropped_messages=int(dropped))

    def info(self, package: ModelPackage, stamp_ns: int) -> Any:
        ignore = UNLABELLED_ID if package.ignore_id is None else package.ignore_id
        return self.types["seal_msgs/msg/SegmentationInfo"](
            header=self.header(stamp_ns, ""), model_id=package.model_id,
            class_names=list(package.class_names),
            palette=np.asarray(package.palette, dtype=np.uint8).reshape(-1),
            ignore_id=int(ignore))

    def diagnostics(self, stamp_ns: int, statuses: Iterable[tuple[int, str, str,
                                                                   dict[str, str]]],
                    hardware_id: str = "") -> Any:
        """``DiagnosticArray`` of ``(level, name, message, {key: value})`` tuples."""
        T = self.types
        status = [T["diagnostic_msgs/msg/DiagnosticStatus"](
            level=int(level), name=name, message=message, hardware_id=hardware_id,
            values=[T["diagnostic_msgs/msg/KeyValue"](key=k, value=str(v))
                    for k, v in values.items()])
            for level, name, message, values in statuses]
        return T["diagnostic_msgs/msg/DiagnosticArray"](header=self.header(stamp_ns, ""),
                                                         status=status)
