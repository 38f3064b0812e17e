"""Seal's pretraining objective: L = w_vfm L^vfm + w_tmp L^tmp + w_p2s L^p2s (method.md §1.4-1.7).

L^vfm is SLidR's camera-to-LiDAR superpixel InfoNCE, optionally segment-aware (point weighting,
class-aware negatives); L^tmp and L^p2s need frame pairs (t, t+n) with LiDAR segments, so a
positive weight on either turns the dataset into a pair dataset (twice the scans per step). The
defaults are SLidR's spatial-only objective; Seal's full objective is ``objective.temporal=1
objective.point_to_segment=1`` (its 1:1:1).

Each term of the last micro-batch of a log step reaches TensorBoard as ``loss/<term>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from seal_train.engine.objective_config import ObjectiveConfig, SegmentWeighting
from seal_train.losses import point_to_segment_infonce, superpixel_infonce, temporal_infonce
from seal_train.pairing.collate import PretrainBatch

__all__ = ["DistillOutputs", "ObjectiveConfig", "SealObjective", "SegmentWeighting",
           "mean_cosine"]


def mean_cosine(features: torch.Tensor, channel_dim: int = -1) -> float:
    """Mean pairwise cosine of unit feature vectors, = |mean vector|^2: near 1 means collapse.

    ``features`` holds unit vectors along ``channel_dim`` (points (N, D): -1; pixels (I, D, H, W):
    1); the mean is taken in place over the other dims, without moving channels last.
    Logged because collapse is the quiet failure of this loss: with a learning rate too high for
    the batch (SLidR's 0.5 at 2 scans) both branches drift to one direction within a few steps and
    the loss sits at ln(superpixels) while nothing is learnt.
    """
    dims = [d for d in range(features.ndim) if d != channel_dim % features.ndim]
    return float(features.detach().mean(dim=dims).square().sum())


@dataclass
class DistillOutputs:
    """One micro-batch's features; ``terms`` is filled by the loss (detached, for the logs)."""

    points: torch.Tensor  # (N, D) unit point features of every scan of the batch
    pixels: torch.Tensor  # (I, D, H, W) unit pixel features of frame t's images
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # read on log steps only


@dataclass(frozen=True)
class SealObjective:
    """The pretraining task run by the shared :class:`~seal_train.engine.trainer.Trainer`."""

    config: ObjectiveConfig
    temperature: float  # InfoNCE tau of every term

    def forward(self, model: nn.Module, batch: PretrainBatch) -> DistillOutputs:
        points, pixels = model(batch)
        return DistillOutputs(points, pixels)

    def loss(self, outputs: DistillOutputs, batch: PretrainBatch) -> torch.Tensor:
        cfg, tau = self.config, self.temperature
        points = outputs.points.float()
        terms: dict[str, torch.Tensor] = {}
        if cfg.spatial > 0:
            classes = batch.segment_classes if cfg.class_aware_negatives else None
            terms["spatial"] = superpixel_infonce(
                points, outputs.pixels.float(), batch.superpixels, batch.pair_point,
                batch.pair_image, batch.pair_row, batch.pair_col, tau,
                weighting=cfg.weighting.value, segment_classes=classes)
        if cfg.uses_pairs:
            sample = batch.scan_sample[batch.point_scan]  # (N,) the pair each point belongs to
            at_t = ~batch.scan_is_partner[batch.point_scan]  # (N,) frame t, else t+n
            if cfg.temporal > 0:
                terms["temporal"] = temporal_infonce(
                    points[at_t], batch.point_segments[at_t], points[~at_t],
                    batch.point_segments[~at_t], sample_a=sample[at_t],
                    sample_b=sample[~at_t], temperature=tau).loss
            if cfg.point_to_segment > 0:
                terms["point_to_segment"] = point_to_segment_infonce(
                    points, batch.point_segments, batch.point_scan, tau, cfg.p2s_max_points)
        weights = {"spatial": cfg.spatial, "temporal": cfg.temporal,
                   "point_to_segment": cfg.point_to_segment}
        outputs.terms = {name: value.detach() for name, value in terms.items()}
        return sum((weights[name] * value for name, value in terms.items()),
                   start=points.sum() * 0.0)

    @staticmethod
    def scalars(outputs: DistillOutputs) -> dict[str, float]:
        """TensorBoard scalars of a log step: each loss term and how collapsed each branch is."""
        return {**{f"loss/{name}": float(value) for name, value in outputs.terms.items()},
                "mean_cosine/points": mean_cosine(outputs.points),
                "mean_cosine/pixels": mean_cosine(outputs.pixels, channel_dim=1)}

    @staticmethod
    def describe(values: dict[str, Any]) -> str:
        terms = ", ".join(f"{tag[5:]} {value:.4f}" for tag, value in values.items()
                          if tag.startswith("loss/"))
        return (f" ({terms}; mean cosine: points {values['mean_cosine/points']:.2f}, pixels "
                f"{values['mean_cosine/pixels']:.2f})")
