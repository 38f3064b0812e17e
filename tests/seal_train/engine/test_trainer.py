"""The shared training loop on a toy regression: hook points, log steps, exact resume (also
mid-epoch, and from the previous checkpoint when the last is damaged), NaN guard."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from seal_ros.errors import ConfigError, TrainingError
from seal_train.engine.distributed import DistInfo
from seal_train.engine.hooks import CheckpointHook, LogHook, NanGuardHook, TimerHook
from seal_train.engine.sampler import GlobalBatchSampler
from seal_train.engine.trainer import Hook, MicroBatches, Trainer

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # (B, 3)
    y: torch.Tensor  # (B,)

    def to(self, device: torch.device) -> Batch:
        return Batch(self.x.to(device), self.y.to(device))


def _collate(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> Batch:
    return Batch(torch.stack([s[0] for s in samples]), torch.stack([s[1] for s in samples]))


class Regression:
    """Squared error weighted at random by the global RNG, so a resume must restore it."""

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return model(batch.x).squeeze(1)

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        return ((outputs - batch.y) ** 2 * torch.rand(outputs.shape)).mean()


class Record(Hook):
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.log_steps: list[tuple[int, bool]] = []  # (step, outputs kept)

    def __getattribute__(self, name: str):
        if name in ("before_train", "before_epoch", "before_step", "after_step", "after_epoch",
                    "after_train"):
            return lambda: self._note(name)
        return super().__getattribute__(name)

    def _note(self, name: str) -> None:
        self.calls.append(name)
        t = self.trainer
        if name == "after_step" and t.log_step:
            self.log_steps.append((t.state.step, t.outputs is not None))


class Samples(list):
    """The dataset, counting the samples loaded."""

    loaded = 0

    def __getitem__(self, index):
        self.loaded += 1
        return super().__getitem__(index)


class StopAfterStep(Hook):
    """Ends the run after optimiser step ``step`` (hooks before it done), as a kill would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self) -> None:
        if self.trainer.state.step == self.step:
            raise KeyboardInterrupt


class StopAfterEpoch(Hook):
    """Ends the run after epoch ``epoch`` (its checkpoint written), as a kill would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_epoch(self) -> None:
        if self.trainer.state.epoch == self.epoch:
            raise KeyboardInterrupt


def _trainer(hooks: list[Hook], epochs: int = 3, log_every: int = 2, parts: int = 2,
             bad_sample: int | None = None, seed: int = 0) -> Trainer:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(16, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    if bad_sample is not None:
        y[bad_sample] = float("nan")
    dataset = Samples(zip(x, y, strict=True))
    sampler = GlobalBatchSampler(len(dataset), 4, seed=3, shuffle=bad_sample is None)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                         collate_fn=MicroBatches(_collate, parts))
    torch.manual_seed(seed)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
    return Trainer(model, Regression(), optimizer, scheduler, loader, device=CPU,
                   info=DistInfo(), epochs=epochs, steps_per_epoch=len(sampler),
                   log_every=log_every, use_amp=False, hooks=hooks)


def test_hooks_run_at_their_points_and_outputs_are_kept_on_log_steps_only(caplog) -> None:
    record = Record()
    timer = TimerHook(samples_per_step=4)
    logger = LogHook(None, "loss/mse", lambda out: {"mean": float(out.detach().mean())},
                     lambda values: f" (mean {values['mean']:.1f})")
    trainer = _trainer([record, logger, timer], epochs=2, log_every=3)
    with caplog.at_level(logging.INFO, logger="seal_train.engine.hooks"):
        state = trainer.train()
    assert (state.epoch, state.step) == (2, 8)
    epoch = ["before_epoch", *["before_step", "after_step"] * 4, "after_epoch"]
    assert record.calls == ["before_train", *epoch, *epoch, "after_train"]
    # every log_every-th step and each epoch's last; only those keep the outputs
    assert record.log_steps == [(3, True), (4, True), (6, True), (8, True)]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4 and lines[0].startswith("epoch 0 step 3/4 loss ")
    assert lines[0].endswith(")") and " (mean " in lines[0]
    assert logger.last_loss == pytest.approx(float(trainer.loss))
    assert timer.samples == 32 and timer.samples_per_s > 0 and 0 <= timer.data_wait_share < 1


def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = _trainer([CheckpointHook(tmp_path / "a.pt", {"run": "a"})])
    straight.train()
    killed = _trainer([CheckpointHook(tmp_path / "b.pt", {"run": "b"}), StopAfterEpoch(1)])
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    resumed = _trainer([CheckpointHook(tmp_path / "b.pt", {"run": "b"})], seed=99)
    state = resumed.train()
    assert (state.epoch, state.step) == (3, 12)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert resumed.scheduler.last_epoch == straight.scheduler.last_epoch == 12


def test_nan_guard_names_the_first_bad_step_and_keeps_no_checkpoint(tmp_path: Path) -> None:
    """The loss is read back at log steps only: the guard stops at the epoch's end (step 3)
    and names step 1, where the NaN sample was."""
    record = Record()
    trainer = _trainer([NanGuardHook(tmp_path / "last.pt", "Lower lr"), record,
                        CheckpointHook(tmp_path / "last.pt", {})],
                       log_every=100, parts=1, bad_sample=5)
    with pytest.raises(TrainingError, match=r"loss is nan at epoch 0, step 1; stopping. The "
                                            r"last good checkpoint is none \(first epoch\). "
                                            r"Lower lr"):
        trainer.train()
    assert trainer.state.step == 4 and record.calls.count("after_step") == 3
    assert not (tmp_path / "last.pt").exists()


def _same_run(a: Trainer, b: Trainer) -> None:
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    for sa, sb in zip(a.optimizer.state.values(), b.optimizer.state.values(), strict=True):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert a.scheduler.last_epoch == b.scheduler.last_epoch


def test_a_run_killed_mid_epoch_resumes_at_its_step_and_ends_bit_identical(tmp_path: Path,
                                                                           caplog) -> None:
    """Checkpoints every 3 steps (of 4 per epoch); the kill comes after step 6, 2 steps into
    epoch 1: the resumed run loads only the 6 batches left and ends where the straight one does."""
    straight = _trainer([CheckpointHook(tmp_path / "a.pt", {}, every_steps=3)])
    straight.train()
    killed = _trainer([CheckpointHook(tmp_path / "b.pt", {}, every_steps=3), StopAfterStep(6)])
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    resumed = _trainer([CheckpointHook(tmp_path / "b.pt", {}, every_steps=3)], seed=99)
    with caplog.at_level(logging.INFO, logger="seal_train.engine.hooks"):
        state = resumed.train()
    assert f"resumed from {tmp_path / 'b.pt'} at epoch 1, step 6 (2 steps into epoch 1)" in [
        r.getMessage() for r in caplog.records]
    assert (state.epoch, state.step, state.epoch_step) == (3, 12, 0)
    assert resumed.loader.dataset.loaded == 6 * 4  # the steps taken were skipped, not loaded
    _same_run(straight, resumed)


def test_a_time_interval_writes_mid_epoch_and_keeps_the_write_before(tmp_path: Path) -> None:
    """An interval shorter than a step writes after every step but the epoch's last (the epoch's
    end writes that one)."""
    killed = _trainer([CheckpointHook(tmp_path / "last.pt", {}, every_s=1e-9), StopAfterStep(3)])
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    last = torch.load(tmp_path / "last.pt", weights_only=True)["state"]
    before = torch.load(tmp_path / "last.prev.pt", weights_only=True)["state"]
    assert (last["step"], last["epoch"], last["epoch_step"]) == (3, 0, 3)
    assert (before["step"], before["epoch_step"]) == (2, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.prev.pt", "last.pt"]
    with pytest.raises(ConfigError, match="checkpoint_every_s and checkpoint_every_steps must "
                                          "be >= 0"):
        CheckpointHook(tmp_path / "last.pt", {}, every_s=-1)


def test_a_damaged_last_checkpoint_resumes_from_the_previous_one(tmp_path: Path, caplog) -> None:
    straight = _trainer([CheckpointHook(tmp_path / "a.pt", {})])
    straight.train()
    killed = _trainer([CheckpointHook(tmp_path / "b.pt", {}), StopAfterEpoch(2)])
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    damaged = tmp_path / "b.pt"
    damaged.write_bytes(damaged.read_bytes()[:-100])  # cut short: epoch 2 is lost
    resumed = _trainer([CheckpointHook(damaged, {})], seed=99)
    with caplog.at_level(logging.INFO):
        state = resumed.train()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"{damaged}: not a readable torch checkpoint") and m.endswith(
        f"resuming from the previous checkpoint {tmp_path / 'b.prev.pt'} instead")
        for m in messages), messages
    assert f"resumed from {tmp_path / 'b.prev.pt'} at epoch 1, step 4" in messages
    assert (state.epoch, state.step) == (3, 12)
    _same_run(straight, resumed)


def test_the_start_removes_the_temporaries_that_killed_saves_left(tmp_path: Path,
                                                                  caplog) -> None:
    """The files a kill during a save leaves (tests/seal_train/engine/test_checkpoint.py kills
    a real writer), of last.pt and of its previous version; other files stay."""
    left = [tmp_path / ".last.pt.4242.tmp", tmp_path / ".last.prev.pt.4243.tmp"]
    kept = [tmp_path / ".best.pt.4242.tmp", tmp_path / "notes.txt"]
    for path in left + kept:
        path.write_bytes(bytes(1000))
    trainer = _trainer([CheckpointHook(tmp_path / "last.pt", {})], epochs=1)
    with caplog.at_level(logging.WARNING, logger="seal_train.engine.hooks"):
        trainer.train()
    assert [r.getMessage() for r in caplog.records] == [
        f"removed 2 temporary files that a killed save left: {left[0]}, {left[1]}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["last.pt", *(p.name for p in kept)])


def test_a_mid_epoch_write_waits_for_the_nan_guard(tmp_path: Path) -> None:
    """Writes every step: step 0's is saved, step 1's NaN loss stops the run before its write."""
    trainer = _trainer([NanGuardHook(tmp_path / "last.pt", "Lower lr"),
                        CheckpointHook(tmp_path / "last.pt", {}, every_steps=1)],
                       log_every=100, parts=1, bad_sample=5)
    with pytest.raises(TrainingError, match=r"loss is nan at epoch 0, step 1; stopping. The "
                                            r"last good checkpoint is .*last.pt"):
        trainer.train()
    payload = torch.load(tmp_path / "last.pt", weights_only=True)
    assert payload["state"]["step"] == 1
    assert all(torch.isfinite(v).all() for v in payload["model"].values())
