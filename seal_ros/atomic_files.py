"""Atomic writes: a result file is either the previous one or the complete new one.

A writer fills a temporary file in the same folder (same file system, so the rename is atomic),
then ``os.replace`` puts it in place; a kill or an error mid-write leaves the previous file intact
and no partial file under the final name. Torch files go through
:func:`seal_ros.torch_files.save_torch_file`; everything else (YAML, text, bytes, files written by
a library that takes a path) through :func:`atomic_path`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_bytes", "write_text"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write instead of ``path``; it replaces ``path`` when the block ends
    without an exception and is removed either way.

    Example::

        with atomic_path(out / "model.onnx") as tmp:
            onnx.save(model, str(tmp))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)



def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
