"""Files from users are untrusted: every command and function that reads a torch file refuses a
malicious pickle with a clear error, and the pickle's code never runs.

The malicious file is a real ``torch.save`` whose unpickling would create a marker file (nothing
worse). Each site that takes a file is its own case; the CLI entry ``main([...])`` is used where
it reaches the file before any slow work, the function the command calls otherwise.
"""

from __future__ import annotations

import pathlib
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from seal_ros.core.minkunet import build_minkunet
from seal_ros.errors import SealError
from seal_ros.torch_files import load_torch_file

REFUSED = "refused: it needs arbitrary Python objects to load"


class _TouchOnLoad:
    """Unpickling it calls ``Path.touch(marker)``: the stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def _malicious(folder: Path, name: str, legacy: bool = False) -> tuple[Path, Path]:
    """A checkpoint-looking .pt whose loading would create ``marker``; (file, marker)."""
    marker = folder / f"{name}.marker"
    path = folder / name
    payload = {"model": {"w": torch.zeros(2)}, "config": _TouchOnLoad(marker)}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    return path, marker


def _tiny_checkpoint(path: Path) -> Path:
    """A valid, small exportable checkpoint (backbone + run config) for the --head case."""
    torch.manual_seed(0)
    model = build_minkunet(in_channels=1, out_channels=3, layers=(1,) * 8, planes=(8,) * 8,
                           init_dim=8)
    torch.save({"model": {f"backbone.{k}": v for k, v in model.state_dict().items()},
                "config": {"model": {"grid": "cartesian", "voxel_size": 0.2},
                           "point_features": ["intensity"]}}, path)
    return path


def _cli(*argv: str) -> Callable[[], None]:
    def run() -> None:
        from seal_train.__main__ import main

        assert main(list(argv)) == 1
    return run


def _sites(evil: Path, tmp: Path) -> dict[str, Callable[[], None]]:
    def teacher() -> None:  # what pretrain's teacher.weights=<file> reads
        from seal_train.teachers.resnet import load_resnet50_state

        load_resnet50_state(evil)

    def resume() -> None:  # what pretrain does with resume=true and <run_dir>/last.pt
        from seal_train.engine.checkpoint import load_checkpoint

        model = torch.nn.Linear(2, 2)
        load_checkpoint(evil, model, torch.optim.SGD(model.parameters(), lr=0.1),
                        restore_rng=True)

    def torch_engine() -> None:
        from seal_ros.core.engines import TorchEngine

        TorchEngine(evil)

    def gather_engine() -> None:
        from seal_ros.core.engines import GatherEngine

        GatherEngine(evil)

    def export_head() -> None:  # the head is read after a valid checkpoint
        _cli("export", "--checkpoint", str(_tiny_checkpoint(tmp / "ok.pt")), "--head", str(evil),
             "--out", out)()

    out = str(tmp / "out")
    return {
        "probe --checkpoint": _cli("probe", "--checkpoint", str(evil), f"out_dir={out}"),
        "evaluate --head": _cli("evaluate", "--head", str(evil), "--out", out),
        "finetune --checkpoint": _cli("finetune", "--checkpoint", str(evil), f"out_dir={out}"),
        "evaluate --checkpoint": _cli("evaluate", "--checkpoint", str(evil), "--out", out),
        "export --checkpoint": _cli("export", "--checkpoint", str(evil), "--classes",
                                    "nuscenes", "--out", out),
        "export --head": export_head,
        "teacher.weights": teacher,
        "resume last.pt": resume,
        "TorchEngine model.pt": torch_engine,
        "GatherEngine model.pt": gather_engine,
    }


SITES = list(_sites(Path("unused"), Path("unused")))


def test_the_payload_is_live(tmp_path: Path) -> None:
    """Control: loaded unsafely, the file does run its code (so the cases below mean something)."""
    evil, marker = _malicious(tmp_path, "evil.pt")
    torch.load(evil, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("site", SITES)
def test_malicious_file_is_refused_and_never_runs(site: str, tmp_path: Path, capsys) -> None:
    evil, marker = _malicious(tmp_path, "evil.pt")
    run = _sites(evil, tmp_path)[site]
    if site.startswith(("probe", "evaluate", "export", "finetune")):
        run()  # exit code 1
        message = capsys.readouterr().err
        assert message.startswith("error: ")
    else:
        with pytest.raises(SealError) as info:
            run()
        message = str(info.value)
    assert f"{evil}: {REFUSED}" in message and "could run code" in message
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or site.startswith("probe")  # probe writes config


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_helper_refuses_both_torch_formats(legacy: bool, tmp_path: Path) -> None:
    evil, marker = _malicious(tmp_path, "evil.pt", legacy=legacy)
    with pytest.raises(SealError, match=f"{REFUSED} .*getattr.*tensors and plain values only"):
        load_torch_file(evil, "checkpoint")
    assert not marker.exists()


def test_helper_names_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(SealError, match=r"none.pt: no such probe head file"):
        load_torch_file(tmp_path / "none.pt", "probe head")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"garbage")
    with pytest.raises(SealError, match=r"garbage.pt: not a readable torch checkpoint: "):
        load_torch_file(garbage, "checkpoint")


def test_what_seal_writes_loads_weights_only_and_resumes_the_rngs(tmp_path: Path) -> None:
    """A checkpoint holds tensors and plain values only; its RNG states restore exactly."""
    from seal_train.config import to_dict
    from seal_train.engine.checkpoint import TrainState, load_checkpoint, save_checkpoint
    from seal_train.engine.pretrain_config import PretrainConfig

    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    np.random.normal()  # a cached Gaussian is part of numpy's state
    path = save_checkpoint(tmp_path / "last.pt", model, TrainState(1, 2, 0.5), optimizer,
                           config=to_dict(PretrainConfig()))
    assert not list(tmp_path.glob(".*tmp"))
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    expected = (np.random.normal(), np.random.randint(1 << 30), random.random(),
                torch.rand(1).item())
    np.random.seed(1), random.seed(1), torch.manual_seed(1)
    state, payload = load_checkpoint(path, torch.nn.Linear(3, 2), restore_rng=True)
    assert (state.epoch, state.step, state.best_metric) == (1, 2, 0.5)
    assert (np.random.normal(), np.random.randint(1 << 30), random.random(),
            torch.rand(1).item()) == expected
    assert payload["config"] == to_dict(PretrainConfig())
