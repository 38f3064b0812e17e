"""Robustness: the eight nuScenes-C (Robo3D) corruptions on the fly, the released nuScenes-C
files, and pictures of both."""

from seal_train.robustness.corruptions import (
    CorruptedScan,
    Corruption,
    Severity,
    corrupt_frame,
    corrupt_points,
    parse_corruption,
    parse_corruptions,
    parse_severity,
    stream_seed,
)
from seal_train.robustness.nuscenes_c import load_nuscenes_c, nuscenes_c_paths
from seal_train.robustness.pictures import corruption_picture, write_corruption_pictures

__all__ = ["CorruptedScan", "Corruption", "Severity", "corrupt_frame", "corrupt_points",
           "corruption_picture", "load_nuscenes_c", "nuscenes_c_paths", "parse_corruption",
           "parse_corruptions", "parse_severity", "stream_seed", "write_corruption_pictures"]
