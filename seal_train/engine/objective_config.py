"""``objective.*``: the weights and switches of the pretraining loss, read without torch.

The config readers (``pretrain_config``) stay torch-free so that a YAML can be checked before
the training stack loads; the loss itself lives in ``seal_train.engine.objective``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from seal_ros.errors import ConfigError

__all__ = ["ObjectiveConfig", "SegmentWeighting"]


class SegmentWeighting(enum.StrEnum):
    """``objective.weighting``: how the spatial loss averages its per-superpoint terms."""

    NONE = "none"  # one term per superpoint (SLidR)
    POINTS = "points"  # each term weighted by the superpoint's paired points


@dataclass(frozen=True)
class ObjectiveConfig:
    spatial: float = 1.0  # weight of L^vfm, the camera-to-LiDAR superpixel InfoNCE
    temporal: float = 0.0  # weight of L^tmp (Seal: 1); > 0 trains on frame pairs
    point_to_segment: float = 0.0  # weight of L^p2s (Seal: 1); > 0 trains on frame pairs
    weighting: SegmentWeighting = SegmentWeighting.NONE  # none | points (spatial loss)
    class_aware_negatives: bool = False  # same-class superpixels are not negatives; needs a
    # superpixel store with class tables (imported semantic masks, oracle-semantic)
    p2s_max_points: int = 8192  # query points of L^p2s per micro-batch (memory: points x segments)

    def __post_init__(self) -> None:
        weights = {"spatial": self.spatial, "temporal": self.temporal,
                   "point_to_segment": self.point_to_segment}
        for name, value in weights.items():
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"objective.{name} must be a finite weight >= 0, got {value}")
        if not any(weights.values()):
            raise ConfigError("objective: every weight is 0; give spatial, temporal or "
                              "point_to_segment a positive weight")
        if self.p2s_max_points < 1:
            raise ConfigError(f"objective.p2s_max_points must be >= 1, got {self.p2s_max_points}")

    @property
    def uses_pairs(self) -> bool:
        """Whether training needs frame pairs and their LiDAR segments."""
        return self.temporal > 0 or self.point_to_segment > 0
