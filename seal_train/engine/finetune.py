"""Fine-tuning: the whole network (backbone + linear head) on a label-efficient split.

SLidR's protocol (method.md 2.2): the backbone trains too, BatchNorm statistics update, two
learning rates (backbone, head), SGD with cosine schedule, CE + Lovasz-softmax, rotation and flip
augmentations. Set-up reads top to bottom: data and its labelled frames, model, optimiser; then the
shared :class:`~seal_train.engine.trainer.Trainer` runs the epochs with the hooks: validation and
``best.pt`` by val mIoU, the NaN guard, resume and ``last.pt`` every epoch (and every
``checkpoint_every_s``), logs and TensorBoard, throughput, a progress bar. Validation is the one
evaluation path (:mod:`~seal_train.engine.scoring`), so a checkpoint's ``evaluate`` score is the
run's own.

A checkpoint holds ``backbone.*`` and ``head.*`` weights, ``class_names`` and the resolved config
(``model``, ``point_features`` as used), so ``export --checkpoint best.pt`` builds the model package
directly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from seal_ros.core.metrics import SegmentationScores, scores_from_matrix
from seal_ros.core.voxelize import SparseBatch, voxelize
from seal_ros.errors import ConfigError
from seal_ros.labels import IGNORE_CLASS
from seal_train.config import from_dict, save_config, to_dict
from seal_train.engine.checkpoint import load_checkpoint, read_resumable
from seal_train.engine.determinism import deterministic_mode
from seal_train.engine.distributed import DistInfo, run_distributed
from seal_train.engine.finetune_config import AugmentConfig, FinetuneConfig
from seal_train.engine.hooks import (
    CheckpointHook,
    LogHook,
    NanGuardHook,
    ProgressHook,
    TimerHook,
    ValidationHook,
    changed_keys,
)
from seal_train.engine.optim import build_scheduler
from seal_train.engine.probe import backbone_from_checkpoint
from seal_train.engine.sampler import GlobalBatchSampler
from seal_train.engine.scoring import ScoredModel, evaluate_frames, frame_inputs, open_frames
from seal_train.engine.trainer import MicroBatches, Trainer
from seal_train.evaluation import write_report
from seal_train.losses.lovasz import lovasz_softmax
from seal_train.models import MinkUNet, VoxelGrid, build_backbone, build_grid, resolve_device
from seal_train.models.config import ModelConfig
from seal_train.pairing.augment import rotation_flip
from seal_train.sources.detect import FrameSource
from seal_train.sources.label_splits import label_split, write_frame_list
from seal_train.visualize.report import write_run_report

__all__ = ["FinetuneResult", "LabelledScans", "SegmentationBatch", "SegmentationCollate",
           "SegmentationModel", "SegmentationTask", "evaluate_checkpoint", "finetune",
           "load_finetuned"]

log = logging.getLogger(__name__)


class SegmentationModel(nn.Module):
    """Backbone + linear head: per-point class logits (the head runs per voxel, then the
    inverse map takes voxel rows to points)."""

    def __init__(self, backbone: MinkUNet, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.out_channels, num_classes)

    def forward(self, batch: SparseBatch) -> torch.Tensor:
        return self.head(self.backbone.forward_voxels(batch))[batch.inverse]  # (N, K)


@dataclass(frozen=True)
class SegmentationBatch:
    sparse: SparseBatch  # voxelised scans
    labels: torch.Tensor  # (N,) int64 class per point, 0 = ignore

    def to(self, device: torch.device | str) -> SegmentationBatch:
        return SegmentationBatch(self.sparse.to(device), self.labels.to(device, non_blocking=True))


class SegmentationCollate:
    """``collate_fn``: concatenated scans (offsets, never padded), voxelised once."""

    def __init__(self, grid: VoxelGrid) -> None:
        self.grid = grid

    def __call__(self, samples: list[tuple[np.ndarray, np.ndarray]]) -> SegmentationBatch:
        offsets = np.concatenate([[0], np.cumsum([len(points) for points, _ in samples])])
        points = torch.from_numpy(np.concatenate([points for points, _ in samples]))
        labels = torch.from_numpy(np.concatenate([labels for _, labels in samples]))
        batch = voxelize(points[:, :3], points[:, 3:], torch.from_numpy(offsets), self.grid)
        return SegmentationBatch(batch, labels.to(torch.int64))


class LabelledScans:
    """Map-style dataset of augmented labelled scans: ((N, 3 + C) float32 xyz + point features,
    (N,) int64 labels). Randomness comes from (seed, epoch, index), so a resumed run sees the
    samples an uninterrupted run would."""

    def __init__(self, frames: FrameSource, features: tuple[str, ...], augment: AugmentConfig,
                 seed: int = 0) -> None:
        self.frames, self.features, self.augment, self.seed = frames, features, augment, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        frame = self.frames[index]
        xyz, feats = frame_inputs(frame, self.features)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        aug = self.augment
        R = rotation_flip(rng, aug.rotate, 0.5 if aug.flip else 0.0) * rng.uniform(*aug.scale)
        xyz = (xyz.astype(np.float64) @ R.T).astype(np.float32)
        return np.concatenate([xyz, feats], axis=1), frame.train_labels().astype(np.int64)


@dataclass
class SegmentationTask:
    """CE (ignore class left out) + Lovasz-softmax on the probabilities, weighted."""

    ce_weight: float = 1.0
    lovasz_weight: float = 1.0
    parts: tuple[torch.Tensor, torch.Tensor] | None = None  # the last (ce, lovasz), detached

    def forward(self, model: nn.Module, batch: SegmentationBatch) -> torch.Tensor:
        return model(batch.sparse)

    def loss(self, logits: torch.Tensor, batch: SegmentationBatch) -> torch.Tensor:
        logits, labels = logits.float(), batch.labels
        labelled = labels != IGNORE_CLASS
        # mean over labelled points without a host sync (0, not NaN, when there are none)
        per_point = F.cross_entropy(logits, labels, reduction="none") * labelled
        ce = per_point.sum() / labelled.sum().clamp_min(1)
        lovasz = lovasz_softmax(logits.softmax(1), labels, ignore_index=IGNORE_CLASS)
        self.parts = (ce.detach(), lovasz.detach())
        return self.ce_weight * ce + self.lovasz_weight * lovasz

    def scalars(self, _: Any) -> dict[str, float]:
        if self.parts is None:
            return {}
        return {"loss/ce": float(self.parts[0]), "loss/lovasz": float(self.parts[1])}

    @staticmethod
    def describe(values: dict[str, float]) -> str:
        return f" (ce {values['loss/ce']:.3f}, lovasz {values['loss/lovasz']:.3f})" if values \
            else ""


@dataclass(frozen=True)
class FinetuneResult:
    best: SegmentationScores  # val scores of best.pt
    last: SegmentationScores  # val scores of the final weights (last.pt)
    best_epoch: int
    epochs: int
    steps: int
    losses: list[tuple[int, float]]  # (step, loss) of this run's log steps
    best_path: Path
    last_path: Path
    labelled_frames: Path
    labelled: int  # labelled training frames
    rule: str  # how they were chosen
    report: list[Path]
    seconds: float
    samples_per_s: float


def _model(cfg: FinetuneConfig) -> tuple[MinkUNet, ModelConfig, tuple[str, ...]]:
    """The backbone to fine-tune, its model record and point features: from the pretraining
    checkpoint (``model`` / ``point_features``, when set, must match it) or random (seeded)."""
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    if cfg.checkpoint is None:
        model_cfg = cfg.model or ModelConfig()
        features = tuple(cfg.point_features or ("intensity",))
        log.info("backbone: a randomly initialised %s (the baseline)", model_cfg.backbone)
        return build_backbone(model_cfg, len(features)), model_cfg, features
    backbone, model_cfg, features = backbone_from_checkpoint(cfg.checkpoint)
    if cfg.model is not None:
        differ = [k for k in changed_keys(to_dict(model_cfg), to_dict(cfg.model))
                  if k != "feature_dim"]  # the pretraining projection, not part of the backbone
        if differ:
            said = ", ".join(f"model.{k}={to_dict(getattr(cfg.model, k))}" for k in differ)
            held = ", ".join(f"{k}={to_dict(getattr(model_cfg, k))}" for k in differ)
            raise ConfigError(f"{said}, but checkpoint {cfg.checkpoint} holds a network with "
                              f"{held}; leave model unset to fine-tune the checkpoint's")
    if cfg.point_features is not None and tuple(cfg.point_features) != features:
        raise ConfigError(f"point_features={list(cfg.point_features)}, but checkpoint "
                          f"{cfg.checkpoint} was pretrained on {list(features)}")
    log.info("backbone: %s from %s", model_cfg.backbone, cfg.checkpoint)
    return backbone, model_cfg, features


def _check_resume(last: Path, class_names: tuple[str, ...], setting: str) -> None:
    """A run resumes only on the classes it was trained on (those of the checkpoint it resumes
    from: ``last.pt``, or ``last.prev.pt`` when that is unreadable)."""
    found = read_resumable(last, quiet=True)
    if found is None:
        return
    path, saved = found
    stored = tuple(saved.get("class_names") or ())
    if stored != class_names:
        raise ConfigError(f"{setting}: {path} was trained on {len(stored)} classes {list(stored)}"
                          f" but the dataset's label map has {len(class_names)} "
                          f"{list(class_names)}; use another out_dir, or resume=false to start "
                          f"over")


def finetune(cfg: FinetuneConfig) -> FinetuneResult:
    device = resolve_device(cfg.device)
    with deterministic_mode(cfg.deterministic, device):
        return run_distributed(device, lambda info: _finetune(cfg, device, info))


def _finetune(cfg: FinetuneConfig, device: torch.device, info: DistInfo) -> FinetuneResult:
    start = time.perf_counter()
    out = Path(cfg.out_dir)
    backbone, model_cfg, features = _model(cfg)  # a bad checkpoint fails before any data work
    train = open_frames(cfg.data, cfg.train_split, load_images=False)
    val = open_frames(cfg.data, cfg.val_split, load_images=False)
    split = label_split(train, cfg.labels, cfg.label_unit)
    log.info("labelled frames: %s", split.rule)
    if set(split.frame_ids) & set(val.frame_ids):
        log.warning("finetune: val_split %r shares frames with the labelled ones: the mIoU is "
                    "not a held-out figure", cfg.val_split)
    label_map = split.frames[0].label_map
    if label_map is None:
        raise ConfigError(f"train_split {cfg.train_split!r}: its frames carry no labels")
    class_names = tuple(label_map.class_names)

    torch.manual_seed(cfg.seed)  # the head's initial weights: the same on every rank and run
    model = SegmentationModel(backbone, len(class_names)).to(device)
    config = {**to_dict(cfg), "model": to_dict(model_cfg), "point_features": list(features)}
    last, best = out / "last.pt", out / "best.pt"
    if cfg.resume:
        _check_resume(last, class_names, f"out_dir={out}")
    labelled_list = out / "labelled_frames.txt"
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out / "config.yaml")
        write_frame_list(labelled_list, split)

    batch_size = min(cfg.batch_size, len(split.frames))
    if batch_size < cfg.batch_size:
        log.warning("batch_size %d lowered to %d: labels=%s leaves only %d labelled frames",
                    cfg.batch_size, batch_size, cfg.labels, len(split.frames))
    dataset = LabelledScans(split.frames, features, cfg.augment, cfg.seed)
    sampler = GlobalBatchSampler(len(dataset), batch_size, info.rank, info.world_size, cfg.seed)
    grid = build_grid(model_cfg)
    loader: torch.utils.data.DataLoader[Any] = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]  # a map-style dataset by protocol, not by subclass
        batch_sampler=sampler, num_workers=cfg.data.workers,
        collate_fn=MicroBatches(SegmentationCollate(grid), 1), pin_memory=device.type == "cuda",
        multiprocessing_context="fork" if cfg.data.workers > 0 else None)

    groups = [{"params": list(model.backbone.parameters()), "lr": cfg.lr_backbone},
              {"params": list(model.head.parameters()), "lr": cfg.lr_head}]
    optimizer = torch.optim.SGD(groups, lr=cfg.lr_backbone, momentum=cfg.momentum,
                                dampening=cfg.dampening, weight_decay=cfg.weight_decay)
    scheduler = build_scheduler(optimizer, cfg.schedule, len(sampler) * cfg.epochs)

    def score(net: nn.Module) -> SegmentationScores:
        assert isinstance(net, SegmentationModel)
        return evaluate_frames(net.backbone, grid, features, net.head, val, class_names, device)

    task = SegmentationTask(cfg.ce_weight, cfg.lovasz_weight)
    extra = {"class_names": list(class_names)}
    logger = LogHook(out / "tb", "loss/total", task.scalars, task.describe)
    timer = TimerHook(batch_size)
    trainer = Trainer(
        model, task, optimizer, scheduler, loader, device=device, info=info, epochs=cfg.epochs,
        steps_per_epoch=len(sampler), log_every=cfg.log_every,
        use_amp=cfg.amp and device.type == "cuda",
        hooks=[ValidationHook(score, cfg.val_every, best, config, extra, logger),
               NanGuardHook(last, f"Lower lr_backbone / lr_head (now {cfg.lr_backbone} / "
                                  f"{cfg.lr_head}) or check the labels"),
               CheckpointHook(last, config, resume=cfg.resume, extra=extra,
                              every_s=cfg.checkpoint_every_s,
                              every_steps=cfg.checkpoint_every_steps),
               logger, timer, ProgressHook("finetune", logger)])
    state = trainer.train()

    def stored(key: str) -> tuple[SegmentationScores, int]:
        record = state.extra[key]
        matrix = np.asarray(record["matrix"], dtype=np.int64)
        return (scores_from_matrix(matrix, ignore_id=IGNORE_CLASS, class_names=class_names),
                int(record["epoch"]))

    best_scores, best_epoch = stored("best")
    last_scores, _ = stored("val")
    title = (f"Fine-tuning of {cfg.checkpoint or 'a random-init backbone'} on {cfg.labels} "
             f"labels, best epoch {best_epoch}, {cfg.val_split}")
    report = []
    if info.is_main:
        report = write_report(best_scores, out, title)
        report.append(write_run_report(out, title=title, overwrite=True))
    return FinetuneResult(best_scores, last_scores, best_epoch, state.epoch, state.step,
                          logger.history, best, last, labelled_list, len(split.frames),
                          split.rule, report, time.perf_counter() - start, timer.samples_per_s)


def load_finetuned(path: Path, data: Path | None = None) -> ScoredModel:
    """A fine-tuned checkpoint (``best.pt`` / ``last.pt``) ready to score with the run's own
    evaluation; ``data`` replaces the dataset path it was trained on."""
    _, payload = load_checkpoint(path)
    if not any(k.startswith("head.") for k in payload["model"]) or not payload.get("class_names"):
        raise ConfigError(f"{path}: not a fine-tuned checkpoint (no head.* weights and "
                          f"class_names); a probe head goes to --head")
    cfg = from_dict(FinetuneConfig, payload["config"])
    data_cfg = cfg.data if data is None else from_dict(
        type(cfg.data), {**to_dict(cfg.data), "path": str(data)})
    device = resolve_device(cfg.device)
    backbone, model_cfg, features = backbone_from_checkpoint(path, payload)
    class_names = tuple(str(c) for c in payload["class_names"])
    model = SegmentationModel(backbone, len(class_names))
    try:
        model.load_state_dict(payload["model"], strict=True)
    except RuntimeError as err:
        raise ConfigError(f"{path}: weights do not fit its own config: {err}") from err
    model.to(device).eval()
    return ScoredModel(Path(path), model.backbone, build_grid(model_cfg), features, model.head,
                       class_names, data_cfg, device)


def evaluate_checkpoint(path: Path, data: Path | None, split: str, out_dir: Path
                        ) -> tuple[SegmentationScores, list[Path]]:
    """Score a fine-tuned checkpoint on a split and write the report."""
    model = load_finetuned(path, data)
    scores = model.score(model.frames(split))
    return scores, write_report(scores, out_dir, f"Evaluation of {path} on {split}")
