"""What a network says about one frame: per-point features, their similarity to a query point,
and the classes a head predicts.

Models come from the project's own loaders
(:func:`seal_train.engine.probe.backbone_from_checkpoint`,
:func:`~seal_train.engine.probe.load_backbone` for random init, ``load_probe`` and
``load_finetuned`` for heads) and features from :func:`seal_train.engine.scoring.point_features`,
so a picture shows exactly what probing and evaluation score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seal_ros.core.prediction import labels_from_logits
from seal_ros.errors import ConfigError
from seal_ros.labels import IGNORE_CLASS
from seal_train.engine.pretrain_config import ModelConfig
from seal_train.engine.probe import ProbeConfig, backbone_from_checkpoint, load_backbone
from seal_train.engine.scoring import ScoredModel, point_features
from seal_train.models import MinkUNet, VoxelGrid, build_grid, resolve_device
from seal_train.sources.frame import Frame

__all__ = ["RANDOM", "FeatureModel", "load_feature_models", "load_scored_model", "predict",
           "query_by_class", "query_index", "similarity"]

RANDOM = "random"
"""The ``--checkpoint`` value of a randomly initialised backbone (the baseline)."""


@dataclass(frozen=True)
class FeatureModel:
    """A frozen backbone, named for the picture's column title."""

    title: str
    backbone: MinkUNet
    grid: VoxelGrid
    features: tuple[str, ...]
    device: torch.device

    def point_features(self, frame: Frame) -> torch.Tensor:
        """(N, C) features of every point (full resolution, on ``device``)."""
        return point_features(self.backbone, self.grid, frame, self.features, self.device)


def load_feature_models(specs: Sequence[str], seed: int = 0, device: str = "auto"
                        ) -> list[FeatureModel]:
    """Backbones of pretraining / fine-tuning checkpoints, or :data:`RANDOM`: random init (seeded)
    with the first checkpoint's architecture and inputs (the defaults when there is none)."""
    if not specs:
        raise ConfigError("give at least one --checkpoint (a .pt file or 'random')")
    dev = resolve_device(device)
    loaded: dict[int, tuple[MinkUNet, ModelConfig, tuple[str, ...]]] = {}
    for k, spec in enumerate(specs):
        if spec != RANDOM:
            path = Path(spec)
            if not path.is_file():
                raise ConfigError(f"--checkpoint {spec}: no such file (or give 'random')")
            loaded[k] = backbone_from_checkpoint(path)
    like = next(iter(loaded.values()), None)
    models = []
    for k, spec in enumerate(specs):
        if k in loaded:
            backbone, model_cfg, features = loaded[k]
            path = Path(spec)
            models.append(FeatureModel(f"{path.parent.name}/{path.name}", backbone.to(dev).eval(),
                                       build_grid(model_cfg), features, dev))
            continue
        cfg = ProbeConfig(seed=seed) if like is None else ProbeConfig(
            seed=seed, model=like[1], point_features=like[2])
        backbone, grid, features = load_backbone(cfg, dev)
        models.append(FeatureModel("random init", backbone, grid, features, dev))
    return models


def load_scored_model(head: Path | None = None, checkpoint: Path | None = None,
                      data: Path | None = None) -> ScoredModel:
    """A probe head file (``head``) or a fine-tuned checkpoint, as ``evaluate`` loads them."""
    if (head is None) == (checkpoint is None):
        raise ConfigError("give a probe head or a fine-tuned checkpoint, not both or neither")
    if head is not None:
        from seal_train.engine.probe import load_probe

        return load_probe(head, data)
    from seal_train.engine.finetune import load_finetuned

    return load_finetuned(Path(str(checkpoint)), data)


@torch.no_grad()
def similarity(features: torch.Tensor, query: int) -> np.ndarray:
    """(N,) float32 cosine similarity of every point's feature to point ``query``'s."""
    unit = F.normalize(features.float(), dim=1)  # (N, C)
    return (unit @ unit[query]).cpu().numpy()


@torch.no_grad()
def predict(model: ScoredModel, frame: Frame) -> np.ndarray:
    """(N,) int64 predicted training class of every point (ignore class masked, as scored)."""
    logits = model.head(point_features(model.backbone, model.grid, frame, model.features,
                                       model.device))
    prediction, _ = labels_from_logits(logits, ignore_id=IGNORE_CLASS)
    return prediction.cpu().numpy().astype(np.int64)


def query_by_class(frame: Frame, class_name: str) -> int:
    """The point nearest the centroid of the largest instance of ``class_name`` in ``frame``."""
    if frame.label_map is None or frame.labels is None or frame.instances is None:
        raise ConfigError(f"frame {frame.frame_id}: --query-class needs per-point labels and "
                          f"instance ids; it has {'no labels' if frame.labels is None else ''}"
                          f"{'' if frame.instances is not None else ' no instances'}")
    names = frame.label_map.class_names
    if class_name not in names:
        raise ConfigError(f"--query-class {class_name!r}: not a class of {frame.label_map.name} "
                          f"({', '.join(names[1:])})")
    chosen = np.flatnonzero((frame.train_labels() == names.index(class_name))
                            & (frame.instances != 0))
    if not chosen.size:
        raise ConfigError(f"frame {frame.frame_id}: no {class_name} instance; choose another "
                          f"frame or class")
    ids, counts = np.unique(frame.instances[chosen], return_counts=True)
    members = chosen[frame.instances[chosen] == ids[np.argmax(counts)]]
    xyz = frame.xyz[members].astype(np.float64)
    return int(members[np.argmin(np.linalg.norm(xyz - xyz.mean(axis=0), axis=1))])


def query_index(frame: Frame, point: int | None = None,
                xyz: Sequence[float] | None = None, class_name: str | None = None) -> int:
    """The query point: an index, the point nearest ``xyz`` (LiDAR frame, metres), or
    :func:`query_by_class`; exactly one of them."""
    given = [v is not None for v in (point, xyz, class_name)]
    if sum(given) != 1:
        raise ConfigError("give exactly one of --point, --xyz, --query-class")
    if point is not None:
        if not 0 <= point < len(frame.points):
            raise ConfigError(f"--point {point}: frame {frame.frame_id} has {len(frame.points)} "
                              f"points")
        return int(point)
    if xyz is not None:
        gap = np.linalg.norm(frame.xyz - np.asarray(xyz, dtype=np.float32), axis=1)
        return int(np.argmin(gap))
    return query_by_class(frame, str(class_name))
