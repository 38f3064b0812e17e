"""torch.distributed set-up for runs launched by ``torchrun`` (one machine or many).

``torchrun`` sets RANK, LOCAL_RANK and WORLD_SIZE; a plain ``python`` run is rank 0 of 1. CPU runs
use the gloo backend, CUDA runs nccl. Batch sizes in configs are global; each rank takes its share.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from seal_ros.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def per_rank_batch(self, global_batch: int) -> int:
        if global_batch % self.world_size:
            raise ConfigError(f"global batch size {global_batch} does not split over "
                              f"{self.world_size} processes")
        return global_batch // self.world_size


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun; no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        log.info("rank %d/%d joined the %s process group", info.rank, world, backend)
    return info


def wrap_ddp(model: nn.Module, device: torch.device, info: DistInfo) -> nn.Module:
    """``model`` in DistributedDataParallel when the run has several processes, else itself
    (checkpoints always hold the inner module: :func:`seal_train.engine.checkpoint.unwrap`)."""
    if not info.distributed:
        return model
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None)


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    if info.distributed:
        value = value.clone()
        dist.all_reduce(value)
        value /= info.world_size
    return value


def broadcast_object(value: T, info: DistInfo) -> T:
    """Rank 0's ``value`` on every rank (picklable plain values: scores, counters)."""
    if not info.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def run_distributed(device: torch.device, body: Callable[[DistInfo], T]) -> T:
    """``body(info)`` inside the process group of a torchrun launch: joined before, left after
    (also when ``body`` raises); a plain run is rank 0 of 1."""
    info = init_distributed(device)
    try:
        return body(info)
    finally:
        cleanup(info)
