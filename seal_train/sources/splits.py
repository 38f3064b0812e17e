"""Named splits a dataset root defines itself: ``<root>/splits/<name>.txt``.

nuScenes and SemanticKITTI have standard splits (the devkit's scene lists, SemanticKITTI's
sequences 00-07, 09, 10 / 08). A dataset that is neither, like the synthetic drive, lists its
own: one scene or sequence name per line (``#`` comments allowed), read before the standard
table, so ``train`` / ``val`` mean held-out data on every root that has them.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from seal_ros.errors import DatasetError

__all__ = ["SPLIT_DIR", "read_split_file", "split_file", "write_split_files"]

SPLIT_DIR = "splits"


def split_file(root: Path, split: str | Path, named: Collection[str]) -> Path | None:
    """The file listing ``split``'s names: the root's own ``splits/<split>.txt`` for a split
    name in ``named``, else ``split`` itself as a list file. None when that file does not exist
    (for a name: the reader falls back to its standard table)."""
    if isinstance(split, str) and split in named:
        path = Path(root) / SPLIT_DIR / f"{split}.txt"
    else:
        path = Path(split)
    return path if path.is_file() else None


def read_split_file(path: Path) -> list[str]:
    """Names listed in a split file (blank lines and ``#`` comments skipped), at least one."""
    names = [line.strip() for line in Path(path).read_text().splitlines()]
    names = [name for name in names if name and not name.startswith("#")]
    if not names:
        raise DatasetError(f"{path}: split file names no scene or sequence")
    return names


def write_split_files(root: Path, names: list[str]) -> None:
    """``train`` = every name but the last, ``val`` = the last (one name: both)."""
    folder = Path(root) / SPLIT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.txt").write_text("\n".join(names[:-1] or names) + "\n")
    (folder / "val.txt").write_text(names[-1] + "\n")
