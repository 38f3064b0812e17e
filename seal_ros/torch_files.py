"""The one way Seal reads and writes torch files (checkpoints, weights, probe heads, model.pt).

Files come from users and are untrusted: they are loaded with ``weights_only=True``, so unpickling
never builds arbitrary Python objects or runs code. What Seal saves is therefore tensors and plain
values only (dicts, lists, tuples, str, int, float, bool, None). Writes are atomic: a temporary
file in the same folder, synced, then a rename, so a kill mid-write leaves the previous file
intact. A failed write (a full disk) closes and removes its temporary file at once (torch's own
writer would keep the deleted file open, and the disk full, for as long as its error lives) and
says how much space is left.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from seal_ros.atomic_files import atomic_path
from seal_ros.errors import SealError, TorchFileError

__all__ = ["REFUSED", "free_space", "load_torch_file", "save_torch_file"]

REFUSED = ("refused: it needs arbitrary Python objects to load ({names}), a pickle that could run "
           "code; Seal files hold tensors and plain values only")
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def load_torch_file(path: str | Path, what: str,
                    error: type[SealError] = TorchFileError) -> Any:
    """The contents of a torch file, on the CPU, loaded weights-only.

    Args:
        path: the file.
        what: what it should be, for messages (``"checkpoint"``, ``"head"``,
            ``"teacher weights"``): ``"<path>: no such <what> file"``.
        error: the class raised, so that each layer keeps its own (``EngineError``,
            ``ConfigError``, ``ExportError``); :class:`~seal_ros.errors.TorchFileError` by default.

    Raises:
        error: no such file; a file that is not a readable torch file; a file refused because
            loading it needs arbitrary Python objects (the message says so).
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such {what} file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle / zip / EOF errors of many types
        # torch puts the unpickler's own error (short, without its advice to load unsafely) in
        # the context of the one it raises.
        inner = err.__context__ if isinstance(err.__context__, Exception) else err
        names = _UNSAFE_GLOBAL.findall(f"{err}\n{inner}")
        if names:
            raise error(f"{path}: {REFUSED.format(names=', '.join(dict.fromkeys(names)))}"
                        ) from None
        detail = str(inner).strip().splitlines()
        raise error(f"{path}: not a readable torch {what}: "
                    f"{detail[0] if detail else type(inner).__name__}") from err


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def free_space(folder: str | Path) -> str:
    """``"<free> free of <total>"`` on ``folder``'s file system, for messages."""
    try:
        usage = shutil.disk_usage(folder)
    except OSError as err:
        return f"free space unknown ({err.strerror})"
    return f"{_size(usage.free)} free of {_size(usage.total)}"


def save_torch_file(obj: Any, path: str | Path, what: str = "torch file",
                    error: type[SealError] = TorchFileError,
                    previous: str | Path | None = None) -> Path:
    """Write ``obj`` (tensors and plain values) to ``path`` atomically; the path.

    Args:
        obj: what to save.
        path: the file.
        what: what it is, for messages (``"checkpoint"``).
        error: the class raised when the write fails.
        previous: where the file ``path`` held until now is kept
            (:func:`seal_ros.atomic_files.atomic_path`); None keeps nothing.

    Raises:
        error: the file system refused the write (full, read-only, quota): the message names the
            file, the reason and the free space; the temporary file is gone and ``path`` (and
            ``previous``) are as they were.
    """
    path = Path(path)
    try:
        with atomic_path(path, previous) as tmp, open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it the file
    except (OSError, RuntimeError) as err:  # torch raises RuntimeError, the OSError its context
        cause = next((e for e in (err, err.__context__) if isinstance(e, OSError)), None)
        if cause is None and not _is_write_failure(err):
            raise
        reason = (cause.strerror or str(cause)) if cause is not None else str(err).splitlines()[0]
        raise error(f"{path}: writing the {what} failed: {reason} "
                    f"({free_space(path.parent)} on {path.parent}); nothing was left behind, and "
                    f"the previous {path.name}, if any, is intact") from err
    return path


def _is_write_failure(err: BaseException) -> bool:
    """A torch writer error that a failed write causes (its OSError context lost)."""
    return "inline_container" in str(err) or "file write failed" in str(err)
