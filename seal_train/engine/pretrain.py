"""Pretraining: distil a frozen image teacher into a sparse 3D backbone over superpixels.

The loop reads top to bottom: data, model, optimiser, resume, then epochs of steps. Each step splits
its batch into micro-batches (the loss groups of a multi-process run), checks the loss is finite,
steps the optimiser and the schedule. Every epoch ends with an atomic checkpoint ``last.pt``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from seal_train.config import save_config, to_dict
from seal_train.engine.checkpoint import TrainState, load_checkpoint, save_checkpoint
from seal_train.engine.distributed import DistInfo, barrier, cleanup, init_distributed
from seal_train.engine.pretrain_config import ModelConfig, PretrainConfig
from seal_train.engine.sampler import GlobalBatchSampler
from seal_train.errors import ConfigError, TrainingError
from seal_train.losses import superpixel_infonce
from seal_train.models import BACKBONES, MinkUNet, VoxelGrid
from seal_train.pairing.collate import PretrainBatch, PretrainCollate
from seal_train.pairing.dataset import PretrainDataset
from seal_train.sources.detect import FrameSource, open_split
from seal_train.superpixels.store import SuperpixelStore
from seal_train.teachers import TEACHERS, ResNetTeacher

log = logging.getLogger(__name__)


class PretrainModel(nn.Module):
    """Student (MinkUNet + 1x1 head) and teacher (frozen trunk + trainable 1x1 head)."""

    def __init__(self, backbone: MinkUNet, teacher: ResNetTeacher, feature_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.point_head = nn.Linear(backbone.out_channels, feature_dim)
        self.teacher = teacher

    def forward(self, batch: PretrainBatch) -> tuple[torch.Tensor, torch.Tensor]:
        points = F.normalize(self.point_head(self.backbone(batch.sparse)), dim=1)  # (N, D)
        pixels = self.teacher(batch.images)  # (I, D, H, W), unit norm
        return points, pixels


def build_grid(cfg: ModelConfig) -> VoxelGrid:
    if cfg.grid == "cylindrical":
        return VoxelGrid.cylindrical()
    if cfg.grid == "cartesian":
        return VoxelGrid.cartesian(cfg.voxel_size)
    raise ConfigError(f"model.grid {cfg.grid!r}: expected cylindrical or cartesian")


def build_backbone(cfg: ModelConfig, in_channels: int, out_channels: int | None = None) -> MinkUNet:
    if cfg.backbone not in BACKBONES:
        raise ConfigError(f"model.backbone {cfg.backbone!r}: expected one of {sorted(BACKBONES)}")
    return BACKBONES[cfg.backbone](in_channels=in_channels, out_channels=out_channels,
                                   width=cfg.width)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available")
    return torch.device(name)


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
    store_dir = data.superpixels or Path(path).parent / f"superpixels-{data.superpixel_source}"
    if not (store_dir / "manifest.yaml").is_file() or data.path is None:
        if info.is_main:
            ensure_superpixels(frames, store_dir, data.superpixel_source)
        barrier(info)
    return frames, SuperpixelStore(store_dir)


def _changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += _changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


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


def cosine_lambda(total_steps: int):
    def factor(step: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
    return factor


@dataclass(frozen=True)
class PretrainResult:
    run_dir: Path
    checkpoint: Path
    epochs: int
    steps: int
    last_loss: float
    samples_per_s: float
    data_wait_share: float  # share of step time spent waiting for the next batch


class _MicroBatchCollate:
    """Collate a rank's batch into ``parts`` micro-batches (each its own loss group)."""

    def __init__(self, collate: PretrainCollate, parts: int) -> None:
        self.collate, self.parts = collate, parts

    def __call__(self, views):
        size = len(views) // self.parts
        return [self.collate(views[i * size:(i + 1) * size]) for i in range(self.parts)]


def pretrain(cfg: PretrainConfig) -> PretrainResult:
    device = resolve_device(cfg.device)
    info = init_distributed(device)
    try:
        return _pretrain(cfg, device, info)
    finally:
        cleanup(info)


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
    dataset = PretrainDataset(frames, store, cfg.pairing, seed=cfg.seed)
    sampler = GlobalBatchSampler(len(dataset), cfg.batch_size, info.rank, info.world_size,
                                 cfg.seed)
    grid = build_grid(cfg.model)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, num_workers=cfg.data.workers,
        collate_fn=_MicroBatchCollate(PretrainCollate(grid), cfg.micro_batches),
        pin_memory=device.type == "cuda", multiprocessing_context="fork"
        if cfg.data.workers > 0 else None)

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    in_channels = len(cfg.pairing.point_features)
    if cfg.teacher.name not in TEACHERS:
        raise ConfigError(f"teacher.name {cfg.teacher.name!r}: expected one of {sorted(TEACHERS)}")
    teacher = TEACHERS[cfg.teacher.name](cfg.teacher.weights, cfg.model.feature_dim,
                                         cfg.teacher.output_stride, cfg.teacher.stage)
    model = PretrainModel(build_backbone(cfg.model, in_channels), teacher,
                          cfg.model.feature_dim).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=cfg.optim.lr, momentum=cfg.optim.momentum,
                                dampening=cfg.optim.dampening,
                                weight_decay=cfg.optim.weight_decay)
    steps_per_epoch = len(sampler) if cfg.max_steps_per_epoch <= 0 else min(
        len(sampler), cfg.max_steps_per_epoch)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.optim.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_lambda(total_steps))
    elif cfg.optim.schedule == "constant":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    else:
        raise ConfigError(f"optim.schedule {cfg.optim.schedule!r}: expected cosine or constant")
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    state = TrainState()
    last = run_dir / "last.pt"
    if cfg.resume and last.is_file():
        state, payload = load_checkpoint(last, model, optimizer, scheduler, scaler,
                                         restore_rng=True)
        log.info("resumed from %s at epoch %d, step %d", last, state.epoch, state.step)
        changed = _changed_keys(payload.get("config") or {}, to_dict(cfg))
        if changed:
            log.warning("resuming with a config that differs from the checkpoint's in %s; the "
                        "optimiser and schedule continue from the checkpoint", changed)
    train_model: nn.Module = model
    if info.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    writer = None
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(run_dir / "tb"))

    loss_value = float("nan")
    samples = 0
    wait_s = 0.0
    start = time.perf_counter()
    model.train()
    for epoch in range(state.epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        iterator = iter(loader)
        for step_in_epoch in range(steps_per_epoch):
            t0 = time.perf_counter()
            micro_batches = next(iterator)
            wait_s += time.perf_counter() - t0
            optimizer.zero_grad(set_to_none=True)
            total = torch.zeros((), device=device)
            log_now = (state.step + 1) % cfg.log_every == 0 or step_in_epoch == steps_per_epoch - 1
            spread: tuple[float, float] = (float("nan"), float("nan"))
            for micro in micro_batches:
                micro = micro.to(device)
                with torch.autocast(device.type, enabled=use_amp):
                    points, pixels = train_model(micro)
                loss = superpixel_infonce(points.float(), pixels.float(), micro.superpixels,
                                          micro.pair_point, micro.pair_image, micro.pair_row,
                                          micro.pair_col, cfg.temperature) / cfg.micro_batches
                scaler.scale(loss).backward()
                total += loss.detach()
                if log_now:  # of the last micro-batch: a collapse shows in any of them
                    spread = (mean_cosine(points), mean_cosine(pixels, channel_dim=1))
            if not torch.isfinite(total):
                raise TrainingError(
                    f"loss is {total.item()} at epoch {epoch}, step {state.step}; stopping. The "
                    f"last good checkpoint is {last if last.is_file() else 'none (first epoch)'}. "
                    f"Lower optim.lr (now {cfg.optim.lr}) or check the data")
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            state.step += 1
            samples += local_batch * info.world_size
            if log_now:
                loss_value = float(total.item())
                if writer is not None:
                    writer.add_scalar("loss/spatial", loss_value, state.step)
                    writer.add_scalar("lr", scheduler.get_last_lr()[0], state.step)
                    writer.add_scalar("mean_cosine/points", spread[0], state.step)
                    writer.add_scalar("mean_cosine/pixels", spread[1], state.step)
                log.info("epoch %d step %d/%d loss %.4f (mean cosine: points %.2f, pixels %.2f)",
                         epoch, step_in_epoch + 1, steps_per_epoch, loss_value, *spread)
        del iterator
        state.epoch = epoch + 1
        if info.is_main:
            save_checkpoint(last, model, state, optimizer, scheduler, scaler, to_dict(cfg))
        barrier(info)
    seconds = time.perf_counter() - start
    if writer is not None:
        writer.close()
    return PretrainResult(run_dir, last, state.epoch, state.step, loss_value,
                          samples / max(seconds, 1e-9), wait_s / max(seconds, 1e-9))
