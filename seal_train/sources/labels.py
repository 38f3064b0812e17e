"""Label maps: raw dataset ids -> training classes, in the ``semantic-kitti.yaml`` layout.

One YAML layout serves every dataset (SemanticKITTI and its siblings ship such a file; nuScenes and
the synthetic drive get one here), so adding a dataset with its own classes is a file, not code.
Training class 0 is always the ignored class.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from seal_train.errors import DatasetError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "configs" / "labels"
BUILTIN = ("nuscenes", "semantic-kitti")


@dataclass(frozen=True, eq=False)
class LabelMap:
    """Raw id -> training class lookup with class names and an RGB palette.

    Attributes:
        name: map name, e.g. ``nuscenes``.
        raw_names: raw id -> raw class name.
        learning_map: raw id -> training class (0 = ignore).
        class_names: training class names; index 0 is the ignored class.
        palette: (len(class_names), 3) uint8 RGB colour per training class.
    """

    name: str
    raw_names: dict[int, str]
    learning_map: dict[int, int]
    class_names: tuple[str, ...]
    palette: np.ndarray
    _lookup: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.learning_map:
            raise DatasetError(f"label map {self.name}: learning_map is empty")
        bad = {raw: cls for raw, cls in self.learning_map.items()
               if not 0 <= cls < len(self.class_names)}
        if bad:
            raise DatasetError(f"label map {self.name}: learning_map targets {bad} outside the "
                               f"{len(self.class_names)} classes")
        lookup = np.full(max(self.learning_map) + 1, -1, dtype=np.int64)
        for raw, cls in self.learning_map.items():
            lookup[raw] = cls
        object.__setattr__(self, "_lookup", lookup)

    @property
    def ignore_index(self) -> int:
        return 0

    @property
    def num_classes(self) -> int:
        """Number of real (non-ignored) training classes, e.g. 16 for nuScenes."""
        return len(self.class_names) - 1

    def to_train(self, raw: np.ndarray, where: str = "labels") -> np.ndarray:
        """Map raw ids to training classes; an id absent from the map is an error, never dropped."""
        raw = np.asarray(raw).astype(np.int64, copy=False)
        inside = raw < len(self._lookup)
        out = np.full(raw.shape, -1, dtype=np.int64)
        out[inside] = self._lookup[raw[inside]]
        unknown = out < 0
        if unknown.any():
            ids = np.unique(raw[unknown])[:10].tolist()
            raise DatasetError(f"{where}: {int(unknown.sum())} points carry raw label ids {ids} "
                               f"that label map {self.name!r} does not know")
        return out

    def to_yaml(self) -> str:
        """This map in the semantic-kitti.yaml layout: the shipped file for a built-in map."""
        if self.name in BUILTIN:
            shipped = LabelMap.builtin(self.name)
            if (shipped.learning_map == self.learning_map
                    and shipped.class_names == self.class_names):
                return (BUILTIN_DIR / f"{self.name}.yaml").read_text()
        inverse: dict[int, int] = {}
        for raw, cls in sorted(self.learning_map.items()):
            inverse.setdefault(cls, raw)
        missing = [c for c in range(len(self.class_names)) if c not in inverse]
        if missing:
            raise DatasetError(f"label map {self.name!r}: classes {missing} have no raw id; "
                               f"cannot write learning_map_inv")
        doc = {
            "name": self.name,
            "labels": {int(k): v for k, v in self.raw_names.items()},
            "color_map": {raw: [int(c) for c in self.palette[cls][::-1]]
                          for raw, cls in self.learning_map.items()},
            "learning_map": dict(self.learning_map),
            "learning_map_inv": {cls: inverse[cls] for cls in range(len(self.class_names))},
            "class_names": list(self.class_names),
        }
        return yaml.safe_dump(doc, sort_keys=False)

    @classmethod
    def from_yaml(cls, path: str | Path) -> LabelMap:
        """Load a ``semantic-kitti.yaml``-style file (labels, color_map, learning_map[_inv])."""
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise DatasetError(f"{path}: cannot read label map: {err}") from err
        missing = [key for key in ("labels", "learning_map", "learning_map_inv") if key not in doc]
        if missing:
            raise DatasetError(f"{path}: label map lacks {missing}; expected the "
                               f"semantic-kitti.yaml layout "
                               f"(labels, color_map, learning_map, learning_map_inv)")
        raw_names = {int(k): str(v) for k, v in doc["labels"].items()}
        learning_map = {int(k): int(v) for k, v in doc["learning_map"].items()}
        inverse = {int(k): int(v) for k, v in doc["learning_map_inv"].items()}
        num = max(inverse) + 1
        if sorted(inverse) != list(range(num)):
            raise DatasetError(f"{path}: learning_map_inv must list classes 0..{num - 1}")
        names = doc.get("class_names")
        if names is not None:
            class_names = tuple(str(names[i]) for i in range(num))
        else:
            class_names = tuple(raw_names.get(inverse[i], f"class_{i}") for i in range(num))
        colors = {int(k): v for k, v in (doc.get("color_map") or {}).items()}
        palette = np.zeros((num, 3), dtype=np.uint8)
        for i in range(num):
            bgr = colors.get(inverse[i], [128, 128, 128])
            palette[i] = bgr[::-1]
        return cls(str(doc.get("name", path.stem)), raw_names, learning_map, class_names, palette)

    @classmethod
    def builtin(cls, name: str) -> LabelMap:
        """One of the maps shipped with Seal: ``nuscenes`` (16 classes), ``semantic-kitti`` (19)."""
        if name not in BUILTIN:
            raise DatasetError(f"unknown label map {name!r}; built-in maps are {BUILTIN}, or give "
                               f"a path to a semantic-kitti.yaml-style file")
        return cls.from_yaml(BUILTIN_DIR / f"{name}.yaml")


def load_label_map(name_or_path: str | Path) -> LabelMap:
    """A built-in map by name, or a YAML file by path."""
    if str(name_or_path) in BUILTIN:
        return LabelMap.builtin(str(name_or_path))
    return LabelMap.from_yaml(name_or_path)


def palette_for(class_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """(K, 3) uint8 RGB colours for a class list: a built-in map's palette when the names are
    its classes (nuScenes lidarseg's official colours, SemanticKITTI's), else evenly spaced hues
    (golden-ratio steps, so neighbouring ids differ) with the ignored class 0 black."""
    names = tuple(class_names)
    for name in BUILTIN:
        shipped = LabelMap.builtin(name)
        if shipped.class_names == names:
            return shipped.palette.copy()
    hues = (np.arange(len(names)) * 0.618033988749895) % 1.0
    palette = np.array([[round(255 * c) for c in colorsys.hsv_to_rgb(h, 0.75, 0.95)]
                        for h in hues], dtype=np.uint8).reshape(-1, 3)
    if len(names):
        palette[0] = 0
    return palette
