"""Optimiser and learning-rate schedule from the ``optim`` config (SLidR's SGD + cosine)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from seal_ros.config_files import parse_enum
from seal_train.engine.pretrain_config import OptimConfig, Schedule

__all__ = ["build_optimizer", "build_scheduler", "cosine_lambda"]


def cosine_lambda(total_steps: int) -> Callable[[int], float]:
    """Factor of the base rate at a step: half a cosine from 1 to 0 over ``total_steps``."""
    def factor(step: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))
    return factor


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig
                    ) -> torch.optim.Optimizer:
    """SGD with momentum, dampening and weight decay over ``params``."""
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, dampening=cfg.dampening,
                           weight_decay=cfg.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule | str, total_steps: int
                    ) -> torch.optim.lr_scheduler.LambdaLR:
    """The per-step schedule ``optim.schedule`` names over a run of ``total_steps`` steps."""
    if parse_enum(Schedule, schedule, "optim.schedule") is Schedule.COSINE:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_lambda(total_steps))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
