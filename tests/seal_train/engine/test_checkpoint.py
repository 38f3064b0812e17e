"""Checkpoint files: a full disk is a clear error that leaves nothing behind, a killed save's
temporary file goes at the next start, and ``last.pt`` keeps its previous version as a fallback.

The full disk is real: a 1 MiB tmpfs mounted in a private mount namespace (``unshare``), in a
subprocess, where the machine allows it; everywhere, a real file-size limit (``RLIMIT_FSIZE``) in
a subprocess makes the write fail the same way (``EFBIG`` instead of ``ENOSPC``).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from seal_ros.atomic_files import atomic_path, temporaries
from seal_ros.errors import ConfigError
from seal_train.engine.checkpoint import (
    TrainState,
    load_checkpoint,
    previous_path,
    read_resumable,
    save_checkpoint,
)

ROOT = Path(__file__).resolve().parents[3]

# Saves a 520 KiB checkpoint (weights and momentum of a 256 x 256 layer) into argv[1], then,
# after a file-size limit of argv[2] bytes where it is > 0, tries a second one, which must fail:
# on a 1 MiB disk the temporary beside last.pt does not fit. Prints what it saw.
SAVE_TWICE = r"""
import json, os, resource, shutil, signal, sys
import torch
from seal_ros.errors import TrainingError
from seal_ros.torch_files import free_space
from seal_train.engine.checkpoint import TrainState, load_checkpoint, save_checkpoint

folder, limit = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
model = torch.nn.Linear(256, 256, bias=False)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
model(torch.ones(1, 256)).sum().backward()
optimizer.step()
last = os.path.join(folder, "last.pt")
save_checkpoint(last, model, TrainState(1, 1), optimizer, keep_previous=True)
report = {"first_size": os.path.getsize(last)}
kept = {k: v.clone() for k, v in model.state_dict().items()}
if limit:  # writes past it fail with EFBIG (SIGXFSZ ignored, as a full disk fails with ENOSPC)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
free_before = shutil.disk_usage(folder).free
optimizer.step()
try:
    save_checkpoint(last, model, TrainState(2, 2), optimizer, keep_previous=True)
except TrainingError as err:  # the error alive: the space must be back already
    report.update(error=str(err), free_before=free_before,
                  free_after=shutil.disk_usage(folder).free, free_text=free_space(folder),
                  files=sorted(os.listdir(folder)))
state, payload = load_checkpoint(last)
report["epoch"] = state.epoch
report["intact"] = all(torch.equal(payload["model"][k], v) for k, v in kept.items())
print(json.dumps(report))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def _check_failed_second_save(report: dict, folder: Path, reason: str) -> None:
    assert report["error"].startswith(f"{folder}/last.pt: writing the checkpoint failed: "
                                      f"{reason} ({report['free_text']} on {folder}); nothing "
                                      f"was left behind, and the previous last.pt, if any, is "
                                      f"intact"), report["error"]
    # the temporary is closed and gone while the error is alive: its space is back
    assert report["free_after"] == report["free_before"] > 0
    assert report["files"] == ["last.pt"]  # no temporary, and nothing rotated
    assert report["epoch"] == 1 and report["intact"]


def test_a_full_disk_is_a_training_error_with_the_free_space_and_leaves_no_temporary(
        tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = f"mount -t tmpfs -o size=1m tmpfs {disk}"
    probe = _run("unshare", "-rm", "sh", "-c", mount)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.strip()}")
    done = _run("unshare", "-rm", "sh", "-c",
                f"{mount} && exec {sys.executable} -c '{SAVE_TWICE}' {disk} 0")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert 520 * 1024 < report["first_size"] < 540 * 1024
    _check_failed_second_save(report, disk, "No space left on device")
    assert report["free_text"].endswith(" KiB free of 1.0 MiB")
    assert 480 * 1024 < report["free_before"] < 510 * 1024


def test_a_write_past_the_file_size_limit_is_the_same_clear_error(tmp_path: Path) -> None:
    done = _run(sys.executable, "-c", SAVE_TWICE, str(tmp_path), "100000")
    assert done.returncode == 0, done.stderr
    _check_failed_second_save(json.loads(done.stdout.splitlines()[-1]), tmp_path,
                              "File too large")


def _tiny(value: float) -> nn.Module:
    model = nn.Linear(2, 1)
    nn.init.constant_(model.weight, value)
    return model


def test_each_save_keeps_the_one_before_and_a_damaged_last_falls_back_to_it(
        tmp_path: Path, caplog) -> None:
    last = tmp_path / "last.pt"
    assert previous_path(last) == tmp_path / "last.prev.pt"
    for epoch in (1, 2, 3):
        save_checkpoint(last, _tiny(epoch), TrainState(epoch, 10 * epoch), keep_previous=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.prev.pt", "last.pt"]
    assert load_checkpoint(last)[0].epoch == 3
    assert load_checkpoint(previous_path(last))[0].epoch == 2
    path, payload = read_resumable(last)
    assert path == last and payload["state"]["epoch"] == 3 and not caplog.records

    last.write_bytes(last.read_bytes()[:200])  # a copy cut short
    with caplog.at_level("WARNING", logger="seal_train.engine.checkpoint"):
        path, payload = read_resumable(last)
    assert path == previous_path(last) and payload["state"]["epoch"] == 2
    assert torch.equal(payload["model"]["weight"], torch.full((1, 2), 2.0))
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(f"{last}: not a readable torch checkpoint: ")
    assert warning.endswith(f"; resuming from the previous checkpoint {previous_path(last)} "
                            f"instead")

    last.unlink()  # a kill between the two renames where the file system has no hard links
    assert read_resumable(last, quiet=True)[0] == previous_path(last)
    previous_path(last).write_bytes(b"garbage")
    last.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=r"no readable checkpoint to resume from: .*last.pt: not "
                                          r"a readable torch checkpoint.*last.prev.pt: not a "
                                          r"readable torch checkpoint.*resume=false"):
        read_resumable(last)
    assert read_resumable(tmp_path / "none.pt") is None


def test_a_killed_writer_leaves_a_temporary_that_is_found_by_name(tmp_path: Path) -> None:
    """A real SIGKILL in the middle of an atomic write: its file stays (nothing can clean up)."""
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom seal_ros.atomic_files import atomic_path\n"
         f"with atomic_path({str(tmp_path / 'last.pt')!r}) as tmp:\n"
         "    tmp.write_bytes(bytes(100_000)); print('writing', flush=True); time.sleep(60)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    (tmp_path / ".other.pt.12.tmp").write_bytes(b"")  # another file's: not ours
    (tmp_path / ".last.pt.notes.tmp").write_bytes(b"")  # not a writer's name
    assert temporaries(tmp_path / "last.pt") == [tmp_path / f".last.pt.{writer.pid}.tmp"]
    with atomic_path(tmp_path / "last.pt") as tmp:
        tmp.write_bytes(b"new")
    assert (tmp_path / f".last.pt.{writer.pid}.tmp").stat().st_size == 100_000  # still there
