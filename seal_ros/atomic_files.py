"""Atomic writes: a result file is either the previous one or the complete new one.

A writer fills a temporary file in the same folder (same file system, so the rename is atomic),
then ``os.replace`` puts it in place; a kill or an error mid-write leaves the previous file intact
and no partial file under the final name. Torch files go through
:func:`seal_ros.torch_files.save_torch_file`; everything else (YAML, text, bytes, files written by
a library that takes a path) through :func:`atomic_path`.

A kill (SIGKILL, power loss) cannot run any clean-up, so its temporary file stays:
:func:`temporaries` finds those of one file and :func:`remove_temporaries` removes them, for
writers that own their folder (a run directory) to call when they start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "remove_temporaries", "temporaries", "write_bytes", "write_text"]


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def temporaries(path: str | Path) -> list[Path]:
    """The temporary files that writers of ``path`` (any process) left beside it, sorted."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.glob(f".{path.name}.*.tmp")
                  if p.name[len(path.name) + 2:-4].isdigit())


def remove_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporary files of ``path`` that killed writers left; those removed.

    Any process id counts: call it only where no other process is writing ``path`` (a run
    directory belongs to one run), since a live writer's file would go too.
    """
    removed = []
    for tmp in temporaries(path):
        try:
            tmp.unlink()
        except FileNotFoundError:
            continue
        removed.append(tmp)
    return removed


def _keep_as(path: Path, previous: Path) -> None:
    """Make ``path``'s current file ``previous`` as well: a hard link renamed into place, so both
    names stay valid throughout; where the file system has no hard links, a rename (``path`` is
    then absent until the caller's replace)."""
    link = _temporary(previous)
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:
        os.replace(path, previous)
        return
    try:
        os.replace(link, previous)
    finally:
        link.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path, previous: str | Path | None = None) -> Iterator[Path]:
    """A temporary path to write instead of ``path``; it replaces ``path`` when the block ends
    without an exception and is removed either way.

    Args:
        path: the final file.
        previous: where the file ``path`` held until now is kept (a fallback for a reader that
            finds the new one damaged); the one there before is replaced. None keeps nothing.

    Example::

        with atomic_path(out / "model.onnx") as tmp:
            onnx.save(model, str(tmp))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    try:
        yield tmp
        if previous is not None and path.exists():
            _keep_as(path, Path(previous))
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
