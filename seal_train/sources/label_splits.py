"""Label-efficient training splits: which frames keep their labels at 1, 5, 10, 25 or 100 %.

SLidR's rules (method.md 2.2; ``SLidR:downstream/dataloader_*.py``), so figures compare with the
papers':

- nuScenes keeps whole **scenes**: walking the selected train scenes in table order with a
  counter from 1, a scene is kept when ``counter % N == 0`` (``dataset_skip_step`` N = 100, 20,
  10, 4, 1), i.e. ``scenes[N - 1::N]``: 7 of the 700 official train scenes at 1 %.
- SemanticKITTI keeps **frames**: the train frames sorted by path (``<seq>/<NNNNNN>``), ``[::N]``:
  192 of 19,130 at 1 %.
- The synthetic drive and bags: a frame stride ``[::N]`` in frame order, under the same names
  (a drive of a few scenes has no 100th scene).

A list file (one frame id per line, ``#`` comments allowed, as ``labelled_frames.txt`` that
``finetune`` writes) names the frames instead, so any published split can be replayed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seal_ros.errors import ConfigError
from seal_train.sources.detect import FrameSource
from seal_train.sources.frame import Frame

__all__ = ["RATIOS", "FrameSubset", "LabelSplit", "LabelUnit", "frame_stride", "label_split",
           "read_frame_list", "scene_stride", "write_frame_list"]

RATIOS: dict[str, int] = {"1%": 100, "5%": 20, "10%": 10, "25%": 4, "100%": 1}
"""Ratio name -> SLidR's ``dataset_skip_step``."""


class LabelUnit(enum.StrEnum):
    """``label_unit``: what a ratio keeps every N-th of."""

    AUTO = "auto"  # SLidR's rule for the format: scenes for nuScenes, frames otherwise (and for
    # the synthetic drive in nuScenes format)
    SCENE = "scene"  # nuScenes scenes (SLidR's nuScenes rule)
    FRAME = "frame"  # frames sorted by id (SLidR's SemanticKITTI rule)


class FrameSubset:
    """The frames of ``source`` at ``indices`` (a :class:`FrameSource` itself)."""

    def __init__(self, source: FrameSource, indices: list[int]) -> None:
        self.source, self.indices = source, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Frame:
        return self.source[self.indices[index]]

    def __iter__(self) -> Iterator[Frame]:
        return (self.source[i] for i in self.indices)

    @property
    def frame_ids(self) -> list[str]:
        ids = self.source.frame_ids
        return [ids[i] for i in self.indices]


@dataclass(frozen=True)
class LabelSplit:
    """The labelled frames of a training split and the rule that chose them."""

    frames: FrameSubset
    rule: str  # one line for logs and reports, e.g. "10%: every 10th of 40 frames (4 frames)"

    @property
    def frame_ids(self) -> list[str]:
        return self.frames.frame_ids


def scene_stride(scenes: list[str], n: int) -> list[str]:
    """SLidR's nuScenes rule: of the scenes in table order, those where a counter from 1 is a
    multiple of ``n`` (``scenes[n - 1::n]``)."""
    return scenes[n - 1::n]


def frame_stride(frame_ids: list[str], n: int) -> list[int]:
    """SLidR's SemanticKITTI rule: rows of every ``n``-th frame id in sorted order, from the
    first (returned in the source's order)."""
    return sorted(sorted(range(len(frame_ids)), key=frame_ids.__getitem__)[::n])


def _nth(n: int) -> str:
    return {1: "all", 2: "every 2nd", 3: "every 3rd"}.get(n, f"every {n}th")


def read_frame_list(path: Path) -> list[str]:
    """Frame ids listed in a file, one per line (blank lines and ``#`` comments skipped)."""
    ids = [line.strip() for line in Path(path).read_text().splitlines()]
    return [i for i in ids if i and not i.startswith("#")]


def write_frame_list(path: Path, split: LabelSplit) -> Path:
    """``path`` listing the split's frame ids under a comment naming the rule (readable back by
    :func:`read_frame_list`, so ``labels=<path>`` trains on the same frames)."""
    from seal_ros.atomic_files import write_text

    return write_text(path, f"# {split.rule}\n" + "".join(f"{i}\n" for i in split.frame_ids))


def _from_list(source: FrameSource, path: Path, setting: str) -> LabelSplit:
    wanted = read_frame_list(path)
    if not wanted:
        raise ConfigError(f"{setting}={path}: the list names no frame id")
    row = {frame_id: i for i, frame_id in enumerate(source.frame_ids)}
    missing = [frame_id for frame_id in wanted if frame_id not in row]
    if missing:
        raise ConfigError(f"{setting}={path}: {len(missing)} of {len(wanted)} frame ids are not "
                          f"in the training split ({len(row)} frames), e.g. {missing[:3]}")
    indices = sorted({row[frame_id] for frame_id in wanted})
    return LabelSplit(FrameSubset(source, indices),
                      f"{path}: {len(indices)} listed frames of {len(row)}")


def _uses_scenes(source: FrameSource, unit: LabelUnit) -> bool:
    from seal_train.sources.nuscenes import ORACLE_DIR, NuScenesSource

    if unit is LabelUnit.SCENE:
        if not isinstance(source, NuScenesSource):
            raise ConfigError(f"label_unit=scene needs a nuScenes dataset; this training split "
                              f"is a {type(source).__name__}: use label_unit=frame or auto")
        return True
    synthetic = isinstance(source, NuScenesSource) and (source.dataroot / ORACLE_DIR).is_dir()
    return unit is LabelUnit.AUTO and isinstance(source, NuScenesSource) and not synthetic


def label_split(source: FrameSource, labels: str, unit: LabelUnit | str = LabelUnit.AUTO,
                setting: str = "labels") -> LabelSplit:
    """The labelled frames of the training split ``source`` for ``labels`` (a name of
    :data:`RATIOS` or a frame-list file); ``setting`` names the option in errors.

    Raises:
        ConfigError: an unknown ratio and no such file, a list naming unknown frames, or a
            ratio that keeps no frame (the message names the setting and the counts).
    """
    from seal_ros.config_files import parse_enum

    unit = parse_enum(LabelUnit, unit, "label_unit")
    labels = str(labels).strip()
    if labels not in RATIOS:
        if Path(labels).is_file():
            return _from_list(source, Path(labels), setting)
        raise ConfigError(f"{setting}={labels!r}: expected one of {', '.join(RATIOS)} or a file "
                          f"listing frame ids (one per line); no such file")
    n = RATIOS[labels]
    if _uses_scenes(source, unit):
        scene_of = source.frame_scenes  # type: ignore[attr-defined]  # NuScenesSource
        scenes = list(dict.fromkeys(scene_of))  # table order, as the source walks them
        kept = set(scene_stride(scenes, n))
        indices = [i for i, scene in enumerate(scene_of) if scene in kept]
        rule = (f"{labels}: {_nth(n)} of {len(scenes)} train scenes (SLidR's nuScenes rule): "
                f"{len(kept)} scenes, {len(indices)} frames")
        if not indices:
            raise ConfigError(f"{setting}={labels} keeps {_nth(n)} of the {len(scenes)} train "
                              f"scenes (SLidR's nuScenes rule): 0 scenes, no labelled frame; use "
                              f"a larger ratio, label_unit=frame, or a frame-list file")
    else:
        from seal_train.sources.kitti import KittiSource

        ids = source.frame_ids
        by_id = isinstance(source, KittiSource)  # SLidR sorts KITTI's paths; others: as recorded
        indices = frame_stride(ids, n) if by_id else list(range(len(ids)))[::n]
        rule = (f"{labels}: {_nth(n)} of {len(ids)} train frames"
                f"{' sorted by id' if by_id else ''}: {len(indices)} frames")
        if not indices:
            raise ConfigError(f"{setting}={labels}: the training split has no frame to label")
    return LabelSplit(FrameSubset(source, indices), rule)
