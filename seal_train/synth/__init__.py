"""The synthetic drive: a deterministic procedural town seen by a 32-beam LiDAR and six cameras."""

from seal_train.synth.drive import SynthConfig, generate_drive, generate_scene
from seal_train.synth.record import (
                                     CAMERA_NAMES,
                                     LIDAR_NAME,
                                     POINT_CHANNELS,
                                     SynthBox,
                                     SynthFrame,
                                     SynthScene,
)

__all__ = ["CAMERA_NAMES", "LIDAR_NAME", "POINT_CHANNELS", "SynthBox", "SynthConfig", "SynthFrame",
           "SynthScene", "generate_drive", "generate_scene"]
