"""The hooks of the training loop: checkpoints and resume, NaN guard, logging, timing.

Each acts at the loop points of :class:`seal_train.engine.trainer.Hook` (after Pointcept's
``pointcept/engines/hooks/misc.py``). Give them to the trainer in this order:
``[NanGuardHook, CheckpointHook, LogHook, TimerHook]``: the guard stops a run before a bad loss is
logged or its weights saved (also a checkpoint written mid-epoch). A :class:`ValidationHook` goes
first, so ``last.pt`` holds the epoch's scores; a :class:`ProgressHook` anywhere after the
CheckpointHook (it starts at the resumed step) and the LogHook it shows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seal_ros.atomic_files import remove_temporaries
from seal_ros.core.metrics import SegmentationScores
from seal_ros.errors import ConfigError, TrainingError
from seal_train.engine.checkpoint import (
    previous_path,
    read_checkpoint,
    read_resumable,
    restore_checkpoint,
    save_checkpoint,
)
from seal_train.engine.distributed import barrier, broadcast_object
from seal_train.engine.trainer import Hook

__all__ = ["CheckpointHook", "LogHook", "NanGuardHook", "ProgressHook", "TimerHook",
           "ValidationHook", "changed_keys"]

log = logging.getLogger(__name__)


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config mappings."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            keys += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def _remove_stale(paths: tuple[Path, ...]) -> None:
    """Remove the temporary files killed saves of ``paths`` left (a run directory is one run's),
    saying how much space came back."""
    removed = [tmp for path in paths for tmp in remove_temporaries(path)]
    if removed:
        log.warning("removed %d temporary file%s that a killed save left: %s", len(removed),
                    "s" if len(removed) > 1 else "", ", ".join(str(p) for p in removed))


class CheckpointHook(Hook):
    """Resume from ``path`` when it exists (and ``resume``); write it atomically, complete (model,
    optimiser, schedule, scaler, counters, RNG states, ``config``, and the entries of ``extra``),
    at every epoch's end and also mid-epoch, every ``every_s`` seconds and every ``every_steps``
    steps (0: not by that rule), so a kill loses minutes, not an epoch.

    Each write keeps the checkpoint before as ``previous_path(path)`` (``last.prev.pt``); a resume
    whose ``path`` is missing or unreadable continues from that one and says so. Temporary files
    that killed saves left are removed when training starts (rank 0). A mid-epoch write makes its
    step a log step, so a :class:`NanGuardHook` given before this hook has read the step's losses
    when it runs; a non-finite loss is never saved.
    """

    def __init__(self, path: Path, config: dict[str, Any], resume: bool = True,
                 extra: dict[str, Any] | None = None, every_s: float = 0.0,
                 every_steps: int = 0) -> None:
        if every_s < 0 or every_steps < 0:
            raise ConfigError(f"checkpoint_every_s and checkpoint_every_steps must be >= 0 "
                              f"(0: at epoch ends only), got {every_s} and {every_steps}")
        self.path, self.config, self.resume = Path(path), config, resume
        self.extra, self.every_s, self.every_steps = extra, every_s, every_steps
        self.saved_at = 0.0  # time.monotonic() of the last write (or of the start)
        self.due = False  # a mid-epoch write after this step
        self.resumed_from: Path | None = None

    def before_train(self) -> None:
        t = self.trainer
        if t.info.is_main:
            _remove_stale((self.path, previous_path(self.path)))
        self.saved_at = time.monotonic()
        if not self.resume:
            return
        found, problem = None, None
        if t.info.is_main:
            try:
                found = read_resumable(self.path)
            except ConfigError as err:
                problem = str(err)
        # rank 0 picks the file, so every rank resumes from the same one (or raises the same)
        chosen, problem = broadcast_object(
            (None if found is None else str(found[0]), problem), t.info)
        if problem is not None:
            raise ConfigError(problem)
        if chosen is None:
            return
        path = Path(chosen)
        payload = found[1] if found is not None else read_checkpoint(path)
        t.state = restore_checkpoint(path, payload, t.model, t.optimizer, t.scheduler, t.scaler,
                                     restore_rng=True)
        self.resumed_from = path
        within = (f" ({t.state.epoch_step} step{'s' if t.state.epoch_step > 1 else ''} into "
                  f"epoch {t.state.epoch})" if t.state.epoch_step else "")
        log.info("resumed from %s at epoch %d, step %d%s", path, t.state.epoch, t.state.step,
                 within)
        changed = changed_keys(payload.get("config") or {}, self.config)
        if changed:
            log.warning("resuming with a config that differs from the checkpoint's in %s; the "
                        "optimiser and schedule continue from the checkpoint", changed)

    def before_step(self) -> None:
        t = self.trainer
        if t.step_in_epoch == t.steps_per_epoch - 1:
            return  # the epoch's end writes it
        by_steps = self.every_steps > 0 and (t.state.step + 1) % self.every_steps == 0
        by_time = self.every_s > 0 and time.monotonic() - self.saved_at >= self.every_s
        if by_steps or by_time:
            self.due = True
            t.log_step = True  # the NaN guard reads this step's losses before the write

    def after_step(self) -> None:
        if self.due:
            self.due = False
            if bool(torch.isfinite(self.trainer.loss)):  # else the guard stops the run
                self.save()

    def after_epoch(self) -> None:
        self.save()
        barrier(self.trainer.info)

    def save(self) -> None:
        t = self.trainer
        if t.info.is_main:
            save_checkpoint(self.path, t.model, t.state, t.optimizer, t.scheduler, t.scaler,
                            self.config, self.extra, keep_previous=True)
        self.saved_at = time.monotonic()


class NanGuardHook(Hook):
    """Stop the run at a non-finite loss, naming the step, the last good checkpoint (``path``)
    and ``advice``.

    The step's loss stays on the device; the losses since the last check are read back on log
    steps, so every epoch's end is checked before its checkpoint is written.
    """

    def __init__(self, path: Path, advice: str) -> None:
        self.path, self.advice = Path(path), advice
        self.pending: list[tuple[int, int, torch.Tensor]] = []  # (epoch, step, loss)

    def after_step(self) -> None:
        t = self.trainer
        self.pending.append((t.epoch, t.state.step - 1, t.loss))
        if t.log_step:
            self.check()

    def check(self) -> None:
        if not self.pending:
            return
        finite = torch.isfinite(torch.stack([loss for _, _, loss in self.pending]))
        bad = (~finite).nonzero().flatten().tolist()
        if bad:
            epoch, step, loss = self.pending[bad[0]]
            last = self.path if self.path.is_file() else "none (first epoch)"
            raise TrainingError(f"loss is {loss.item()} at epoch {epoch}, step {step}; "
                                f"stopping. The last good checkpoint is {last}. {self.advice}")
        self.pending.clear()


class LogHook(Hook):
    """On log steps: one log line and TensorBoard points (rank 0, in ``tb_dir``) of the loss
    (tag ``loss_tag``), the learning rate (``lr``) and the task's ``scalars`` of the step's
    outputs; ``suffix`` formats those for the line."""

    def __init__(self, tb_dir: Path | None, loss_tag: str,
                 scalars: Callable[[Any], dict[str, float]] = lambda _: {},
                 suffix: Callable[[dict[str, float]], str] = lambda _: "") -> None:
        self.tb_dir, self.loss_tag, self.scalars, self.suffix = tb_dir, loss_tag, scalars, suffix
        self.writer: Any = None
        self.last_loss = float("nan")  # of the last log step
        self.history: list[tuple[int, float]] = []  # (step, loss) of this run's log steps

    def before_train(self) -> None:
        if self.trainer.info.is_main and self.tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.tb_dir))

    def after_step(self) -> None:
        t = self.trainer
        if not t.log_step:
            return
        self.last_loss = float(t.loss.item())
        self.history.append((t.state.step, self.last_loss))
        values = self.scalars(t.outputs)
        if self.writer is not None:
            self.writer.add_scalar(self.loss_tag, self.last_loss, t.state.step)
            self.writer.add_scalar("lr", t.scheduler.get_last_lr()[0], t.state.step)
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, t.state.step)
        log.info("epoch %d step %d/%d loss %.4f%s", t.epoch, t.step_in_epoch + 1,
                 t.steps_per_epoch, self.last_loss, self.suffix(values))

    def after_train(self) -> None:
        if self.writer is not None:
            self.writer.close()


class TimerHook(Hook):
    """Throughput (``samples_per_step`` over all ranks) and the share of time spent waiting for
    data, over the whole run (wall clock)."""

    def __init__(self, samples_per_step: int) -> None:
        self.samples_per_step = samples_per_step
        self.start = self.seconds = self.wait_s = 0.0
        self.samples = 0

    def before_train(self) -> None:
        self.start = time.perf_counter()

    def after_step(self) -> None:
        self.wait_s += self.trainer.data_wait_s
        self.samples += self.samples_per_step

    def after_train(self) -> None:
        self.seconds = time.perf_counter() - self.start

    @property
    def samples_per_s(self) -> float:
        return self.samples / max(self.seconds, 1e-9)

    @property
    def data_wait_share(self) -> float:
        return self.wait_s / max(self.seconds, 1e-9)


class ProgressHook(Hook):
    """A tqdm bar over the run's steps (rank 0), showing the loss of the last log step."""

    def __init__(self, desc: str, logger: LogHook | None = None) -> None:
        self.desc, self.logger = desc, logger
        self.bar: Any = None

    def before_train(self) -> None:
        t = self.trainer
        if t.info.is_main:
            from tqdm import tqdm

            self.bar = tqdm(total=t.epochs * t.steps_per_epoch, initial=t.state.step,
                            desc=self.desc, unit="step")

    def after_step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if self.logger is not None and self.trainer.log_step:
                self.bar.set_postfix(epoch=self.trainer.epoch, loss=f"{self.logger.last_loss:.3f}")

    def after_train(self) -> None:
        if self.bar is not None:
            self.bar.close()


class ValidationHook(Hook):
    """Every ``every`` epochs and after the last one: score the model with ``evaluate`` (in eval
    mode, rank 0) and keep the weights of the best mIoU in ``best`` (atomic; with ``config`` and
    ``extra`` like :class:`CheckpointHook`'s file, no optimiser).

    The scores travel in ``state.extra`` (``"val"``: the latest, ``"best"``: the best; epoch,
    mIoU and confusion matrix as plain values) on every rank, so a resumed run reports them
    without scoring again; a run resumed past its last epoch without them is scored at the end.
    Give it before :class:`CheckpointHook`: ``last.pt`` then holds this epoch's scores.
    """

    def __init__(self, evaluate: Callable[[nn.Module], SegmentationScores], every: int,
                 best: Path, config: dict[str, Any], extra: dict[str, Any] | None = None,
                 logger: LogHook | None = None) -> None:
        if every < 1:
            raise ConfigError(f"val_every must be >= 1 epoch, got {every}")
        self.evaluate, self.every, self.best = evaluate, every, Path(best)
        self.config, self.extra, self.logger = config, extra, logger

    def before_train(self) -> None:
        if self.trainer.info.is_main:
            _remove_stale((self.best,))

    def after_epoch(self) -> None:
        epoch = self.trainer.state.epoch
        if epoch % self.every == 0 or epoch == self.trainer.epochs:
            self.validate()

    def after_train(self) -> None:
        if "val" not in self.trainer.state.extra:
            self.validate()

    def validate(self) -> None:
        t = self.trainer
        epoch = t.state.epoch
        if t.info.is_main:
            t.model.eval()
            try:
                scores = self.evaluate(t.model)
            finally:
                t.model.train()
            record = {"epoch": epoch, "miou": float(scores.miou),
                      "matrix": scores.matrix.tolist()}
            t.state.extra["val"] = record
            writer = self.logger.writer if self.logger is not None else None
            if writer is not None:
                writer.add_scalar("val/mIoU", record["miou"], t.state.step)
            improved = t.state.best_metric is None or record["miou"] > t.state.best_metric
            log.info("epoch %d: val mIoU %.2f %%%s", epoch, 100 * record["miou"],
                     " (best so far)" if improved else "")
            if improved:
                t.state.best_metric = record["miou"]
                t.state.extra["best"] = record
                save_checkpoint(self.best, t.model, t.state, config=self.config,
                                extra=self.extra)
        shared = broadcast_object((t.state.best_metric, dict(t.state.extra)), t.info)
        t.state.best_metric, t.state.extra = shared[0], shared[1]
