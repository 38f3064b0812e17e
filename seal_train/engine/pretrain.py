"""Pretraining: distil a frozen image teacher into a sparse 3D backbone over superpixels.

Set-up reads top to bottom: run directory, data, model, optimiser and schedule; then the shared
:class:`~seal_train.engine.trainer.Trainer` runs the epochs with the objective
(:mod:`seal_train.engine.objective`: superpixel InfoNCE, optionally Seal's temporal terms over
frame pairs) and its hooks: the NaN guard, resume and an atomic checkpoint ``last.pt`` every
epoch (and every ``checkpoint_every_s``), log lines and TensorBoard (each loss term, learning rate,
feature collapse), throughput.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from seal_ros.errors import ConfigError
from seal_train.config import save_config, to_dict
from seal_train.engine.determinism import deterministic_mode
from seal_train.engine.distributed import DistInfo, barrier, run_distributed
from seal_train.engine.hooks import CheckpointHook, LogHook, NanGuardHook, TimerHook
from seal_train.engine.objective import SealObjective
from seal_train.engine.optim import build_optimizer, build_scheduler
from seal_train.engine.pretrain_config import PretrainConfig
from seal_train.engine.sampler import GlobalBatchSampler
from seal_train.engine.trainer import MicroBatches, Trainer
from seal_train.models import (
    PretrainModel,
    build_backbone,
    build_grid,
    build_teacher,
    resolve_device,
)
from seal_train.pairing.collate import PretrainCollate
from seal_train.pairing.dataset import PretrainDataset
from seal_train.sources.detect import FrameSource, open_split
from seal_train.superpixels.store import SuperpixelStore

if TYPE_CHECKING:
    from seal_train.scene.segment_store import SegmentStore

__all__ = ["PretrainResult", "open_data", "open_segments", "pretrain"]

log = logging.getLogger(__name__)


def open_data(cfg: PretrainConfig, info: DistInfo) -> tuple[FrameSource, SuperpixelStore]:
    """The frames and their superpixel store; the built-in drive is made on first use."""
    from seal_train.engine.synthetic import ensure_superpixels, synthetic_drive

    data = cfg.data
    path = data.path
    if path is None:
        if info.is_main:
            synthetic_drive(data.synthetic_scenes, data.synthetic_frames, data.synthetic_seed,
                            data.cache_dir)
        barrier(info)
        path = synthetic_drive(data.synthetic_scenes, data.synthetic_frames, data.synthetic_seed,
                               data.cache_dir)
    frames = open_split(path, data.split)
    if len(frames) and not frames[0].cameras:
        raise ConfigError(f"data.path={path}: its frames have no camera images (e.g. "
                          f"{frames[0].frame_id}); pretraining distils image features into the "
                          f"LiDAR backbone, so it needs a dataset with cameras (SemanticKITTI "
                          f"image_2, nuScenes CAM_*, a bag with image topics). Without images: "
                          f"probe, finetune, evaluate and segments work")
    store_dir = data.superpixels or Path(path).parent / f"superpixels-{data.superpixel_source}"
    if not (store_dir / "manifest.yaml").is_file() or data.path is None:
        if info.is_main:
            ensure_superpixels(frames, store_dir, data.superpixel_source)
        barrier(info)
    return frames, SuperpixelStore(store_dir)


def open_segments(cfg: PretrainConfig, frames: FrameSource, info: DistInfo) -> SegmentStore:
    """The LiDAR segment store of the frame pairs; made on first use (rank 0) when missing."""
    from seal_train.engine.synthetic import synthetic_drive
    from seal_train.scene.pairs import SegmentParams, parse_pair_rule
    from seal_train.scene.segment_store import SegmentStore, ensure_segments

    data = cfg.data
    offset = parse_pair_rule(data.pairs)
    if data.segments is not None:
        store_dir = data.segments
    else:
        root = data.path if data.path is not None else synthetic_drive(
            data.synthetic_scenes, data.synthetic_frames, data.synthetic_seed, data.cache_dir)
        store_dir = Path(root).parent / f"segments-n{offset}"
    if info.is_main:
        ensure_segments(frames, store_dir, SegmentParams(), offset)
    barrier(info)
    return SegmentStore(store_dir)


@dataclass(frozen=True)
class PretrainResult:
    run_dir: Path
    checkpoint: Path
    epochs: int
    steps: int
    last_loss: float
    samples_per_s: float
    data_wait_share: float  # share of step time spent waiting for the next batch
    report: Path | None = None  # <run>/report/report.md: loss curves (rank 0 writes it)


def pretrain(cfg: PretrainConfig) -> PretrainResult:
    device = resolve_device(cfg.device)
    with deterministic_mode(cfg.deterministic, device):
        return run_distributed(device, lambda info: _pretrain(cfg, device, info))


def _pretrain(cfg: PretrainConfig, device: torch.device, info: DistInfo) -> PretrainResult:
    run_dir = Path(cfg.run_dir)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        log.info("pretraining in %s on %s (%d process%s)", run_dir, device, info.world_size,
                 "es" if info.distributed else "")
    local_batch = info.per_rank_batch(cfg.batch_size)
    if local_batch % cfg.micro_batches:
        raise ConfigError(f"micro_batches {cfg.micro_batches} does not divide the per-process "
                          f"batch {local_batch}")

    frames, store = open_data(cfg, info)
    segments = open_segments(cfg, frames, info) if cfg.objective.uses_pairs else None
    dataset = PretrainDataset(frames, store, cfg.pairing, seed=cfg.seed, segments=segments,
                              with_classes=cfg.objective.class_aware_negatives)
    sampler = GlobalBatchSampler(len(dataset), cfg.batch_size, info.rank, info.world_size,
                                 cfg.seed)
    loader: torch.utils.data.DataLoader[Any] = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]  # a map-style dataset by protocol, not by subclass
        batch_sampler=sampler, num_workers=cfg.data.workers,
        collate_fn=MicroBatches(PretrainCollate(build_grid(cfg.model)), cfg.micro_batches),
        pin_memory=device.type == "cuda", multiprocessing_context="fork"
        if cfg.data.workers > 0 else None)

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    teacher = build_teacher(cfg.teacher, cfg.model.feature_dim)
    model = PretrainModel(build_backbone(cfg.model, len(cfg.pairing.point_features)), teacher,
                          cfg.model.feature_dim).to(device)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg.optim)
    steps_per_epoch = len(sampler) if cfg.max_steps_per_epoch <= 0 else min(
        len(sampler), cfg.max_steps_per_epoch)
    scheduler = build_scheduler(optimizer, cfg.optim.schedule, steps_per_epoch * cfg.epochs)

    task = SealObjective(cfg.objective, cfg.temperature)
    last = run_dir / "last.pt"
    logger = LogHook(run_dir / "tb", "loss/total", task.scalars, task.describe)
    timer = TimerHook(local_batch * info.world_size)
    trainer = Trainer(
        model, task, optimizer, scheduler, loader, device=device, info=info, epochs=cfg.epochs,
        steps_per_epoch=steps_per_epoch, log_every=cfg.log_every,
        use_amp=cfg.amp and device.type == "cuda",
        hooks=[NanGuardHook(last, f"Lower optim.lr (now {cfg.optim.lr}) or check the data"),
               CheckpointHook(last, to_dict(cfg), resume=cfg.resume,
                              every_s=cfg.checkpoint_every_s,
                              every_steps=cfg.checkpoint_every_steps),
               logger, timer])
    state = trainer.train()
    report = None
    if info.is_main:
        from seal_train.visualize.report import write_run_report

        report = write_run_report(run_dir, title=f"Pretraining {run_dir.name}", overwrite=True)
    return PretrainResult(run_dir, last, state.epoch, state.step, logger.last_loss,
                          timer.samples_per_s, timer.data_wait_share, report)
