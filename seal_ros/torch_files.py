"""The one way Seal reads and writes torch files (checkpoints, weights, probe heads, model.pt).

Files come from users and are untrusted: they are loaded with ``weights_only=True``, so unpickling
never builds arbitrary Python objects or runs code. What Seal saves is therefore tensors and plain
values only (dicts, lists, tuples, str, int, float, bool, None). Writes are atomic: a temporary
file in the same folder, then a rename, so a kill mid-write leaves the previous file intact.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from seal_ros.atomic_files import atomic_path
from seal_ros.errors import SealError, TorchFileError

__all__ = ["REFUSED", "load_torch_file", "save_torch_file"]

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


def save_torch_file(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` (tensors and plain values) to ``path`` atomically; the path."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)
