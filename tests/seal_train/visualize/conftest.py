"""A tiny synthetic drive, a pretraining-style checkpoint and a probe head that always says
``car``, shared by the picture, report and viewer tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seal_ros.labels import LabelMap
from seal_train.config import to_dict
from seal_train.engine.pretrain_config import ModelConfig, PretrainConfig
from seal_train.engine.probe import ProbeConfig
from seal_train.models import build_backbone
from seal_train.synth import SynthConfig
from seal_train.synth.formats import write_drive

MODEL = ModelConfig(width=0.125)
NUSCENES = LabelMap.builtin("nuscenes")
CAR = NUSCENES.class_names.index("car")


@pytest.fixture(scope="session")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scene, two frames, 64 x 36 images (nuScenes layout, with oracle instances)."""
    config = SynthConfig(image_width=64, image_height=36, lidar_azimuth_steps=384)
    return write_drive(tmp_path_factory.mktemp("drive"), scenes=1, frames=2, seed=3,
                       formats=("nuscenes",), config=config)["nuscenes"]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pretraining checkpoint of a random MinkUNet (width 1/8), as ``pretrain`` lays it out."""
    torch.manual_seed(1)
    backbone = build_backbone(MODEL, in_channels=1).eval()
    path = tmp_path_factory.mktemp("pretrain") / "last.pt"
    torch.save({"model": {f"backbone.{k}": v for k, v in backbone.state_dict().items()},
                "config": to_dict(PretrainConfig(model=MODEL)),
                "state": {"epoch": 1, "step": 1}}, path)
    return path


@pytest.fixture(scope="session")
def car_head(checkpoint: Path, drive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A probe head file on ``checkpoint`` whose bias makes every point a car."""
    channels = build_backbone(MODEL, in_channels=1).out_channels  # 12 at width 1/8
    head = torch.nn.Linear(channels, len(NUSCENES.class_names))
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[CAR] = 1.0
    path = tmp_path_factory.mktemp("probe") / "probe.pt"
    cfg = ProbeConfig(checkpoint=checkpoint, data=PretrainConfig().data)
    config = to_dict(cfg)
    config["data"]["path"] = str(drive)
    torch.save({"head": head.state_dict(), "class_names": list(NUSCENES.class_names),
                "checkpoint": str(checkpoint), "config": config}, path)
    return path
