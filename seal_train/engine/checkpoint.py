"""Complete, atomic checkpoints: a run resumes exactly where it stopped.

A checkpoint holds the model, optimiser, scheduler and AMP scaler states, the epoch and step
counters, the best metric, the resolved config and the global RNG states, as tensors and plain
values only: it is read weights-only (:mod:`seal_ros.torch_files`), and written atomically, so a
kill during the write leaves the previous checkpoint intact.

``last.pt`` keeps its previous version as ``last.prev.pt`` (:func:`previous_path`): a resume whose
``last.pt`` is missing or unreadable (a damaged disk, a copy cut short) continues from that one
(:func:`read_resumable`). A write that fails (a full disk) raises a
:class:`~seal_ros.errors.TrainingError` naming the file and the free space, and leaves nothing
behind.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from seal_ros.errors import ConfigError, TrainingError
from seal_ros.torch_files import load_torch_file, save_torch_file

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Counters that travel with the weights."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    best_metric: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    epoch_step: int = 0  # steps taken of epoch ``epoch`` (0 at an epoch's end): a checkpoint
    # written mid-epoch resumes at the next step


def rng_state() -> dict[str, Any]:
    """The global RNG states as tensors and plain values (numpy's key as an int64 tensor)."""
    name, key, pos, has_gauss, gauss = cast(tuple[str, np.ndarray, int, int, float],
                                            np.random.get_state(legacy=True))
    numpy_state = {"name": name, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "gauss": float(gauss)}
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["name"], numpy_state["key"].numpy().astype(np.uint32),
                         numpy_state["pos"], numpy_state["has_gauss"], numpy_state["gauss"]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel wrapper (or the module itself)."""
    # nn.Module.__getattr__ is typed Tensor | Module; a DDP wrapper's .module is the Module
    return cast(nn.Module, model.module) if hasattr(model, "module") else model


def saved_state(model: nn.Module) -> dict[str, Any]:
    """The model's weights without what it rebuilds itself: keys under its ``rebuilt_prefixes``
    (the pretraining model's frozen teacher trunk, read again from the user's weights file or
    re-seeded: a ViT-L trunk would add 1.2 GB to every checkpoint)."""
    prefixes = tuple(getattr(model, "rebuilt_prefixes", ()))
    return {k: v for k, v in model.state_dict().items() if not k.startswith(prefixes)}


def previous_path(path: str | Path) -> Path:
    """Where ``path``'s previous version is kept: ``last.pt`` -> ``last.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: str | Path, model: nn.Module, state: TrainState,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    scaler: Any = None, config: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None, keep_previous: bool = False) -> Path:
    """Write atomically; ``extra`` adds top-level entries (plain values: ``class_names``);
    ``keep_previous`` keeps the file ``path`` held as :func:`previous_path`.

    Raises:
        TrainingError: the write failed (a full disk): the file, the reason and the free space.
    """
    payload = {
        **(extra or {}),
        "model": saved_state(unwrap(model)),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "state": {"epoch": state.epoch, "step": state.step, "epoch_step": state.epoch_step,
                  "best_metric": state.best_metric, "extra": state.extra},
        "config": config,
        "rng": rng_state(),
    }
    return save_torch_file(payload, path, "checkpoint", TrainingError,
                           previous_path(path) if keep_previous else None)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The payload of a Seal checkpoint, its tensors on the CPU.

    Raises:
        ConfigError: no such file, not a readable torch file, or not a Seal checkpoint.
    """
    payload = load_torch_file(path, "checkpoint", ConfigError)
    if not isinstance(payload, dict) or "model" not in payload:
        raise ConfigError(f"checkpoint {path}: not a Seal checkpoint (no 'model' entry)")
    return payload


def read_resumable(path: str | Path, quiet: bool = False
                   ) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint a run resumes from and its payload: ``path``, or its
    :func:`previous_path` when ``path`` is missing or unreadable (a warning says why, unless
    ``quiet``); None when neither exists.

    Raises:
        ConfigError: the files that exist are all unreadable (each named with its reason).
    """
    errors = []
    for candidate in (Path(path), previous_path(path)):
        if not candidate.is_file():
            continue
        try:
            payload = read_checkpoint(candidate)
        except ConfigError as err:
            errors.append(str(err))
            continue
        if errors and not quiet:
            log.warning("%s; resuming from the previous checkpoint %s instead", errors[0],
                        candidate)
        return candidate, payload
    if errors:
        raise ConfigError(f"no readable checkpoint to resume from: {'; '.join(errors)}. Remove "
                          f"them (or set resume=false) to start over")
    return None


def load_checkpoint(path: str | Path, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    scaler: Any = None, restore_rng: bool = False
                    ) -> tuple[TrainState, dict[str, Any]]:
    """Load into the given objects (strictly, but for the model's ``rebuilt_prefixes``); returns
    the counters and the raw payload (its
    tensors on the CPU: ``load_state_dict`` moves them to the model's and optimiser's device)."""
    path = Path(path)
    payload = read_checkpoint(path)
    return restore_checkpoint(path, payload, model, optimizer, scheduler, scaler,
                              restore_rng), payload


def restore_checkpoint(path: Path, payload: dict[str, Any], model: nn.Module | None = None,
                       optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                       scaler: Any = None, restore_rng: bool = False) -> TrainState:
    """Load a payload read from ``path`` (:func:`read_checkpoint`) into the given objects, like
    :func:`load_checkpoint`; the counters."""
    if model is not None:
        target = unwrap(model)
        rebuilt = tuple(getattr(target, "rebuilt_prefixes", ()))
        try:
            result = target.load_state_dict(payload["model"], strict=False)
        except RuntimeError as err:
            raise ConfigError(f"checkpoint {path}: weights do not fit the model: {err}") from err
        missing = [k for k in result.missing_keys if not k.startswith(rebuilt)]
        if missing or result.unexpected_keys:
            raise ConfigError(f"checkpoint {path}: weights do not fit the model: "
                              f"{len(missing)} missing keys {missing[:4]}, "
                              f"{len(result.unexpected_keys)} unexpected "
                              f"{result.unexpected_keys[:4]}")
    for obj, key in ((optimizer, "optimizer"), (scheduler, "scheduler"), (scaler, "scaler")):
        if obj is not None and payload.get(key) is not None:
            obj.load_state_dict(payload[key])
    if restore_rng and payload.get("rng"):
        set_rng_state(payload["rng"])
    raw = payload.get("state") or {}
    return TrainState(int(raw.get("epoch", 0)), int(raw.get("step", 0)), raw.get("best_metric"),
                      dict(raw.get("extra") or {}), int(raw.get("epoch_step", 0)))
