"""Pretraining runs end to end; a run killed mid-epoch resumes to the same weights, bit for bit in
deterministic mode, as two deterministic runs on a busy machine are; torchrun with two processes
equals one process with two micro-batches; a NaN loss stops the run cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seal_ros.errors import ConfigError, TrainingError
from seal_train.config import load_config
from seal_train.engine.pretrain import pretrain
from seal_train.engine.pretrain_config import PretrainConfig
from seal_train.engine.synthetic import ensure_superpixels

ROOT = Path(__file__).resolve().parents[3]


def _overrides(cache: Path, run_dir: Path, *extra: str) -> list[str]:
    return [f"run_dir={run_dir}", f"data.cache_dir={cache}", "data.synthetic_scenes=1",
            "data.synthetic_frames=4", "data.workers=0", "model.width=0.25", "epochs=2",
            "batch_size=2", "optim.lr=0.05", *extra]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _run(args: list[str], env_extra: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0", **(env_extra or {})}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_pretrain_runs_and_writes_a_complete_run_dir(cache, tmp_path):
    cfg = load_config(PretrainConfig, overrides=_overrides(cache, tmp_path / "run"))
    result = pretrain(cfg)
    assert (result.epochs, result.steps) == (2, 4)
    assert torch.isfinite(torch.tensor(result.last_loss))
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    payload = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert payload["state"]["epoch"] == 2 and payload["optimizer"] and payload["scheduler"]
    assert any(k.startswith("backbone.") for k in payload["model"])
    assert 0.0 <= result.data_wait_share < 1.0 and result.samples_per_s > 0
    # the run report: a row per scalar and the loss curve drawn
    report = result.report.read_text()
    assert result.report == tmp_path / "run" / "report" / "report.md"
    assert "| loss/total | 2 | 4 |" in report and "![loss/total](loss_total.png)" in report
    assert (tmp_path / "run" / "report" / "loss_total.png").stat().st_size > 1000


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_bit_for_bit(cache, tmp_path):
    """A checkpoint after every step; the kill comes after one written mid-epoch. In
    deterministic mode the resumed run ends bit-identical to an uninterrupted one."""
    extra = ("epochs=3", "checkpoint_every_steps=1", "deterministic=true")
    command = [sys.executable, "-m", "seal_train", "pretrain",
               *_overrides(cache, tmp_path / "killed", *extra)]
    proc = _run(command)
    last = tmp_path / "killed" / "last.pt"
    deadline, seen = time.monotonic() + 300, 0.0
    while proc.poll() is None and time.monotonic() < deadline:
        if last.exists() and last.stat().st_mtime != seen:
            seen = last.stat().st_mtime
            if torch.load(last, map_location="cpu", weights_only=True)["state"]["epoch_step"]:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert last.exists(), proc.stdout.read()
    stopped = torch.load(last, map_location="cpu", weights_only=True)["state"]
    assert (stopped["epoch_step"], stopped["step"] % 2) == (1, 1), stopped  # 2 steps an epoch
    resumed = _run(command)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert (f"resumed from {last} at epoch {stopped['epoch']}, step {stopped['step']} (1 step "
            f"into epoch {stopped['epoch']})") in out
    reference = pretrain(load_config(PretrainConfig, overrides=_overrides(
        cache, tmp_path / "straight", *extra)))
    a, b = _weights(last), _weights(reference.checkpoint)
    assert a.keys() == b.keys()
    for key in a:  # parameters and BatchNorm statistics alike
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_deterministic_runs_are_equal_bit_for_bit_on_a_busy_machine(cache, tmp_path):
    """Without deterministic mode, threaded scatter-adds make same-seed runs drift apart when
    the machine is loaded (seal_train/engine/determinism.py); with it, two runs (one data-loader
    worker, as by default) beside a busy process end equal."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        runs = [pretrain(load_config(PretrainConfig, overrides=_overrides(
            cache, tmp_path / name, "deterministic=true", "data.workers=1")))
            for name in ("one", "two")]
    finally:
        busy.kill()
        busy.wait(timeout=30)
    assert torch.are_deterministic_algorithms_enabled() is False  # the mode ends with the run
    a, b = (_weights(run.checkpoint) for run in runs)
    assert runs[0].steps == runs[1].steps == 4 and a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process_with_two_micro_batches(cache, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [str(torchrun), "--nnodes", "1", "--nproc_per_node", "2", "--rdzv-backend", "c10d",
               "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "-m", "seal_train", "pretrain",
               *_overrides(cache, tmp_path / "ddp", "micro_batches=1")]
    proc = _run(command, {"GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1",
                          "OMP_NUM_THREADS": "1"})
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "(2 processes)" in out
    single = pretrain(load_config(PretrainConfig, overrides=_overrides(
        cache, tmp_path / "single", "micro_batches=2")))
    ddp, one = _weights(tmp_path / "ddp" / "last.pt"), _weights(single.checkpoint)
    # Parameters follow the same data and the same averaged gradients; BatchNorm running
    # statistics differ by design (DDP keeps rank 0's), so buffers are not compared.
    params = [k for k in one if "running_" not in k and "num_batches_tracked" not in k]
    for key in params:
        torch.testing.assert_close(ddp[key], one[key], rtol=1e-3, atol=2e-3, msg=key)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(cache, tmp_path):
    run = tmp_path / "nan"
    pretrain(load_config(PretrainConfig, overrides=_overrides(cache, run, "epochs=1")))
    good = (run / "last.pt").read_bytes()
    # A fresh run in the same directory whose weights turn NaN after its first step.
    cfg = load_config(PretrainConfig, overrides=_overrides(cache, run, "resume=false",
                                                           "optim.lr=nan"))
    with pytest.raises(TrainingError, match=r"loss is nan at epoch 0, step 1.*last good checkpoint "
                                            r"is .*last.pt.*Lower optim.lr"):
        pretrain(cfg)
    assert (run / "last.pt").read_bytes() == good


def test_unknown_superpixel_source_names_the_key_and_the_choices(tmp_path):
    expected = r"data.superpixel_source='nope'.*masks, oracle, oracle-slic, sam, sam-lidar, slic"
    with pytest.raises(ConfigError, match=expected):
        ensure_superpixels([], tmp_path / "store", "nope")
    assert not (tmp_path / "store").exists()


def test_mean_cosine_is_one_for_collapsed_features_and_one_over_d_for_a_basis():
    from seal_train.engine.objective import mean_cosine

    collapsed = torch.nn.functional.normalize(torch.ones(10, 4), dim=1)
    assert mean_cosine(collapsed) == pytest.approx(1.0)
    assert mean_cosine(torch.eye(8)) == pytest.approx(1 / 8)
    pixels = torch.eye(8).view(8, 8, 1, 1).expand(8, 8, 3, 5)  # (I, D, H, W): image i is e_i
    assert mean_cosine(pixels, channel_dim=1) == pytest.approx(1 / 8)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pretrain_on_gpu_with_amp(cache, tmp_path):
    cfg = load_config(PretrainConfig, overrides=_overrides(cache, tmp_path / "run", "device=cuda",
                                                           "amp=true"))
    result = pretrain(cfg)
    assert (result.epochs, result.steps) == (2, 4)
    assert torch.isfinite(torch.tensor(result.last_loss))
    payload = torch.load(result.checkpoint, map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in payload["model"].values() if v.is_floating_point())
    assert payload["scaler"]["scale"] > 0  # AMP was on: the scaler has a state


def test_seals_full_objective_trains_on_frame_pairs_and_logs_each_term(cache, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = load_config(PretrainConfig, overrides=_overrides(
        cache, tmp_path / "run", "epochs=1", "log_every=1", "objective.temporal=1",
        "objective.point_to_segment=0.5", "objective.weighting=points"))
    result = pretrain(cfg)
    assert result.steps == 2 and torch.isfinite(torch.tensor(result.last_loss))
    events = EventAccumulator(str(tmp_path / "run" / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/total", "loss/spatial", "loss/temporal", "loss/point_to_segment"} <= tags
    total, *terms = ([e.value for e in events.Scalars(tag)] for tag in (
        "loss/total", "loss/spatial", "loss/temporal", "loss/point_to_segment"))
    expected = [s + t + 0.5 * p for s, t, p in zip(*terms, strict=True)]
    assert total == pytest.approx(expected, rel=1e-5)
    assert all(t > 0 for t in terms[1])  # frame pairs shared segments
    assert list((cache / "synthetic-s0-1x4").glob("**/segments-n1/manifest.yaml"))


def test_pretraining_frames_without_cameras_is_a_config_error(tmp_path):
    """A LiDAR-only dataset opens everywhere else; pretraining names why it cannot use it."""
    from seal_train.synth.formats import write_drive

    kitti = write_drive(tmp_path / "drive", scenes=1, frames=2, formats=("kitti",))["kitti"]
    for folder in kitti.glob("sequences/*/image_2"):
        shutil.rmtree(folder)
    cfg = load_config(PretrainConfig, overrides=[f"run_dir={tmp_path / 'run'}",
                                                 f"data.path={kitti}", "data.workers=0"])
    with pytest.raises(ConfigError, match="no camera images.*needs a dataset with cameras"):
        pretrain(cfg)
    assert not (tmp_path / "drive" / "superpixels-slic").exists()  # failed before any work
