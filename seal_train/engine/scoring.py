"""Scoring a backbone + linear head on a split: the one evaluation path of probe, fine-tuning,
``evaluate`` and the robustness runs (SLidR's protocol).

One confusion matrix over every point of every frame, full resolution (voxel features broadcast
back through the inverse map), the ignore class masked at prediction
(:func:`seal_ros.core.prediction.labels_from_logits`, the rule the vehicle's replay uses too).
A corruption, when given, is applied to each scan before inference; points it injects are scored
as ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from seal_ros.core.metrics import ConfusionMatrix, SegmentationScores
from seal_ros.core.prediction import labels_from_logits
from seal_ros.labels import IGNORE_CLASS
from seal_train.engine.pretrain_config import DataConfig
from seal_train.models import MinkUNet, VoxelGrid, voxelize
from seal_train.sources.detect import FrameSource, SourceKind, detect, open_split
from seal_train.sources.frame import Frame

if TYPE_CHECKING:
    from seal_train.robustness import CorruptedScan

__all__ = ["Corrupt", "ScoredModel", "evaluate_frames", "frame_inputs", "open_frames",
           "point_features"]

Corrupt = Callable[[Frame], "CorruptedScan"]
"""A frame -> its corrupted scan (:func:`seal_train.robustness.corrupt_frame` bound to a
corruption, severity and seed)."""


def frame_inputs(frame: Frame, features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) float32 xyz (a copy) and (N, C) float32 point features of one frame."""
    columns = [frame.channel(name)[:, None] for name in features]
    return frame.xyz.copy(), np.concatenate(columns, axis=1).astype(np.float32)


@torch.no_grad()
def point_features(backbone: MinkUNet, grid: VoxelGrid, frame: Frame,
                   features: tuple[str, ...], device: torch.device) -> torch.Tensor:
    """(N, C) backbone features of every point of one frame (no autograd graph: probing caches
    them as inputs)."""
    xyz, feats = (torch.from_numpy(a) for a in frame_inputs(frame, features))
    batch = voxelize(xyz, feats, torch.tensor([0, len(xyz)]), grid).to(device)
    return backbone(batch)


def open_frames(data: DataConfig, split: str, load_images: bool = True) -> FrameSource:
    """The frames of ``split`` of ``data`` (the built-in drive when ``data.path`` is None);
    ``load_images=False`` skips decoding camera images where the format allows."""
    path = data.path
    if path is None:
        from seal_train.engine.synthetic import synthetic_drive

        path = synthetic_drive(data.synthetic_scenes, data.synthetic_frames, data.synthetic_seed,
                               data.cache_dir)
    if load_images or detect(path) is SourceKind.ROSBAG:
        return open_split(path, split)
    return open_split(path, split, load_images=False)


def _corrupted(frame: Frame, corrupt: Corrupt) -> tuple[Frame, np.ndarray]:
    """The corrupted scan as a label-free frame, and its (M,) training labels (injected: 0)."""
    scan = corrupt(frame)
    truth = scan.labels_from(frame.train_labels())
    return replace(frame, points=scan.points, channels=scan.channels, labels=None,
                   label_map=None, instances=None), truth


@torch.no_grad()
def evaluate_frames(backbone: MinkUNet, grid: VoxelGrid, features: tuple[str, ...], head: nn.Module,
                    frames: FrameSource, class_names: tuple[str, ...], device: torch.device,
                    corrupt: Corrupt | None = None, desc: str = "evaluate") -> SegmentationScores:
    """One confusion matrix over every point of every frame; ignore class masked in prediction."""
    matrix = ConfusionMatrix(len(class_names), ignore_id=IGNORE_CLASS)
    for frame in tqdm(frames, desc=desc, unit="frame"):
        if corrupt is None:
            scored, truth = frame, frame.train_labels()
        else:
            scored, truth = _corrupted(frame, corrupt)
        logits = head(point_features(backbone, grid, scored, features, device))
        prediction, _ = labels_from_logits(logits, ignore_id=IGNORE_CLASS)
        matrix.update(prediction=prediction, truth=truth)
    return matrix.scores(class_names)


@dataclass(frozen=True)
class ScoredModel:
    """A backbone and its linear head as a probe head file or a fine-tuned checkpoint holds them,
    with the data they were trained on (``evaluate`` scores any of them the same way)."""

    source: Path  # the file it came from
    backbone: MinkUNet
    grid: VoxelGrid
    features: tuple[str, ...]
    head: nn.Module
    class_names: tuple[str, ...]
    data: DataConfig  # the training run's data (``--data`` replaces its path)
    device: torch.device

    def score(self, frames: FrameSource, corrupt: Corrupt | None = None,
              desc: str = "evaluate") -> SegmentationScores:
        self.backbone.eval()
        self.head.eval()
        return evaluate_frames(self.backbone, self.grid, self.features, self.head, frames,
                               self.class_names, self.device, corrupt, desc)

    def frames(self, split: str) -> FrameSource:
        return open_frames(self.data, split, load_images=False)
