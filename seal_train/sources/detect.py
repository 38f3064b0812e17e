"""Open any supported dataset path as a sequence of Frames, its format recognised by its files."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from seal_ros.errors import DatasetError
from seal_train.sources.frame import Frame


class SourceKind(enum.Enum):
    NUSCENES = "nuscenes"
    KITTI = "kitti"
    ROSBAG = "rosbag"


class FrameSource(Protocol):
    """What every source offers: a length, random access and iteration over Frames."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Frame: ...

    def __iter__(self) -> Iterator[Frame]: ...

    @property
    def frame_ids(self) -> list[str]:
        """A stable id per frame, in order (splits and reports name frames by it)."""
        ...


BAG_SUFFIXES = (".mcap", ".db3", ".bag")


def detect(path: str | Path) -> SourceKind:
    """Which format ``path`` holds: a nuScenes root (``v1.0-*/``), a SemanticKITTI-format root
    (``sequences/``), or a bag (rosbag2 folder with ``metadata.yaml``, ``.mcap``, ``.db3``,
    ``.bag``)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if path.is_file():
        if path.suffix in BAG_SUFFIXES:
            return SourceKind.ROSBAG
        raise DatasetError(f"{path}: a file of unknown type; expected a bag ({BAG_SUFFIXES}) or "
                           f"a dataset directory")
    if (path / "metadata.yaml").is_file() or any(path.glob("*.bag")) or any(
            (p / "metadata.yaml").is_file() for p in path.iterdir() if p.is_dir()):
        return SourceKind.ROSBAG  # a bag, or a folder of bags
    if any(p.is_dir() and p.name.startswith("v1.0-") for p in path.iterdir()):
        return SourceKind.NUSCENES
    if (path / "sequences").is_dir():
        return SourceKind.KITTI
    raise DatasetError(f"{path}: not a nuScenes root (no v1.0-*/ folder), a SemanticKITTI-format "
                       f"root (no sequences/ folder) or a bag "
                       f"(no metadata.yaml / .mcap / .db3 / .bag)")


def nuscenes_version(root: Path) -> str:
    """The one ``v1.0-*`` table folder under ``root``."""
    versions = sorted(p.name for p in Path(root).iterdir()
                      if p.is_dir() and p.name.startswith("v1.0-"))
    if len(versions) != 1:
        raise DatasetError(f"{root}: found table folders {versions}; pass version= to choose one")
    return versions[0]


def open_source(path: str | Path, kind: SourceKind | str | None = None,
                **options: Any) -> FrameSource:
    """Open ``path`` with the reader of its format; ``options`` go to that reader."""
    path = Path(path)
    kind = SourceKind(kind) if kind is not None else detect(path)
    if kind is SourceKind.NUSCENES:
        from seal_train.sources.nuscenes import NuScenesSource

        options.setdefault("version", nuscenes_version(path))
        options.setdefault("split", "all")
        return NuScenesSource(path, **options)
    if kind is SourceKind.KITTI:
        from seal_train.sources.kitti import KittiSource

        if "sequences" not in options:
            options["sequences"] = sorted(p.name for p in (path / "sequences").iterdir()
                                          if p.is_dir())
        if "label_map" not in options and any(path.glob("*.yaml")):
            options["label_map"] = "auto"
        return KittiSource(path, **options)
    from seal_ros.labels import find_label_map
    from seal_train.sources.rosbag import RosbagSource

    label_map = find_label_map(path)
    if "label_field" not in options and label_map is not None:
        options.update(label_field="label", label_map=label_map)  # labelled bags say what ids mean
    return RosbagSource(path, **options)


def open_split(path: str | Path, split: str | Path = "all", **options: Any) -> FrameSource:
    """Open ``path`` keeping the frames of ``split``: nuScenes scenes or SemanticKITTI sequences
    (a named split, a list file, or ``all``); a bag has no splits and is opened whole."""
    kind = detect(Path(path))
    if kind is SourceKind.NUSCENES:
        options["split"] = split
    elif kind is SourceKind.KITTI:
        options["sequences"] = split
    return open_source(path, kind, **options)
