"""The training loop every training command shares: epochs of optimiser steps, with hooks.

The loop reads top to bottom (after Pointcept's ``TrainerBase``): each epoch seeds the data order,
each step fetches a batch (a list of micro-batches, the loss groups of a multi-process run), runs
every micro-batch forward under autocast, adds its loss, back-propagates through the AMP scaler,
and steps the optimiser and the schedule. What a command trains is a :class:`TrainTask`;
everything else (resume and checkpoints, the NaN guard, logging and TensorBoard, timing) is a
:class:`Hook` (:mod:`seal_train.engine.hooks`), so adding a metric never touches the step.

The step never reads a value back from the device: hooks that need numbers on the host do so on
log steps only (:attr:`Trainer.log_step`), every ``log_every`` steps and at each epoch's end.

A run resumed from a checkpoint written mid-epoch (``state.epoch_step > 0``) starts that epoch at
its next step: the batch sampler skips the steps taken (``set_start``; other samplers' batches are
fetched and dropped), and making the data iterator leaves the global RNG as it was, so the
restored RNG state continues as the uninterrupted run's did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from seal_train.engine.checkpoint import TrainState
from seal_train.engine.distributed import DistInfo, wrap_ddp

__all__ = ["Hook", "MicroBatches", "TrainTask", "Trainer"]


class TrainTask(Protocol):
    """What a command trains: how a micro-batch goes through the model and becomes a loss."""

    def forward(self, model: nn.Module, batch: Any) -> Any:
        """The model's outputs for one micro-batch (runs under autocast)."""
        ...

    def loss(self, outputs: Any, batch: Any) -> torch.Tensor:
        """The scalar loss of one micro-batch (runs in float32, outside autocast)."""
        ...


class Hook:
    """Acts at fixed points of the loop; every point is a no-op here. A hook reads and changes
    its :attr:`trainer` (set when the trainer is made)."""

    trainer: Trainer

    def before_train(self) -> None:
        """Once, after the model is wrapped for DDP and before the first epoch."""

    def before_epoch(self) -> None:
        """At each epoch's start, after the data order is seeded."""

    def before_step(self) -> None:
        """After the step's batch is fetched."""

    def after_step(self) -> None:
        """After the optimiser and schedule stepped; ``trainer.state.step`` and
        ``trainer.state.epoch_step`` count this step."""

    def after_epoch(self) -> None:
        """At each epoch's end; ``trainer.state.epoch`` counts this epoch."""

    def after_train(self) -> None:
        """Once, after the last epoch."""


class MicroBatches:
    """Collate a rank's batch into ``parts`` micro-batches (each its own loss group)."""

    def __init__(self, collate: Callable[[list[Any]], Any], parts: int) -> None:
        self.collate, self.parts = collate, parts

    def __call__(self, samples: list[Any]) -> list[Any]:
        size = len(samples) // self.parts
        return [self.collate(samples[i * size:(i + 1) * size]) for i in range(self.parts)]


class Trainer:
    """Runs ``task`` over ``loader`` for ``epochs`` of ``steps_per_epoch`` steps.

    Attributes hooks read: ``model`` (the module itself), ``train_model`` (what runs forward:
    the DDP wrapper in a multi-process run), ``optimizer``, ``scheduler``, ``scaler``, ``state``
    (epochs and steps done), ``epoch``, ``step_in_epoch``, ``loss`` (the step's summed loss, a
    detached device tensor), ``outputs`` (the last micro-batch's outputs, kept on log steps
    only), ``log_step``, ``data_wait_s`` (seconds the step waited for its batch).
    """

    def __init__(self, model: nn.Module, task: TrainTask, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler,
                 loader: torch.utils.data.DataLoader, *, device: torch.device, info: DistInfo,
                 epochs: int, steps_per_epoch: int, log_every: int, use_amp: bool,
                 hooks: Sequence[Hook] = ()) -> None:
        self.model = self.train_model = model
        self.task, self.optimizer, self.scheduler, self.loader = task, optimizer, scheduler, loader
        self.device, self.info, self.use_amp = device, info, use_amp
        self.epochs, self.steps_per_epoch, self.log_every = epochs, steps_per_epoch, log_every
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
        self.state = TrainState()
        self.epoch = self.step_in_epoch = 0
        self.batch: list[Any] = []
        self.loss = torch.zeros((), device=device)
        self.outputs: Any = None
        self.log_step = False
        self.data_wait_s = 0.0
        self.hooks = list(hooks)
        for hook in self.hooks:
            hook.trainer = self

    def _call(self, point: str) -> None:
        for hook in self.hooks:
            getattr(hook, point)()

    def train(self) -> TrainState:
        """Run the remaining steps (from step ``state.epoch_step`` of epoch ``state.epoch``, after
        a resume); the final counters."""
        self.train_model = wrap_ddp(self.model, self.device, self.info)
        self._call("before_train")
        self.model.train()
        for epoch in range(self.state.epoch, self.epochs):
            self.epoch = epoch
            first = self.state.epoch_step  # > 0 only in an epoch resumed mid-way
            for part in (self.loader.batch_sampler, self.loader.dataset):
                set_epoch = getattr(part, "set_epoch", None)
                if set_epoch is not None:  # data order and augmentations follow the epoch
                    set_epoch(epoch)
            set_start = getattr(self.loader.batch_sampler, "set_start", None)
            if set_start is not None:
                set_start(first)
            self._call("before_epoch")
            # The iterator draws its workers' base seed from the global RNG; a run resumed
            # mid-epoch makes one more iterator than the uninterrupted run, so the draw is undone.
            with torch.random.fork_rng(devices=[]):
                iterator = iter(self.loader)
            if set_start is None:
                for _ in range(first):
                    next(iterator)
            for step in range(first, self.steps_per_epoch):
                self.step_in_epoch = step
                start = time.perf_counter()
                self.batch = next(iterator)
                self.data_wait_s = time.perf_counter() - start
                self.log_step = ((self.state.step + 1) % self.log_every == 0
                                 or step == self.steps_per_epoch - 1)
                self._call("before_step")
                self.run_step()
                self.state.epoch_step = step + 1
                self._call("after_step")
            del iterator
            self.state.epoch, self.state.epoch_step = epoch + 1, 0
            self._call("after_epoch")
        self._call("after_train")
        return self.state

    def run_step(self) -> None:
        """One optimiser step over the micro-batches of ``self.batch``."""
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        self.outputs = None
        for micro in self.batch:
            micro = micro.to(self.device)
            with torch.autocast(self.device.type, enabled=self.use_amp):
                outputs = self.task.forward(self.train_model, micro)
            loss = self.task.loss(outputs, micro) / len(self.batch)
            self.scaler.scale(loss).backward()
            total += loss.detach()
            if self.log_step:  # the last micro-batch's: a collapse shows in any of them
                self.outputs = outputs
        self.loss = total
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.state.step += 1
