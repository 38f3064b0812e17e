"""Label maps: raw dataset ids -> training classes -> model package classes.

One record and one reader for the ``semantic-kitti.yaml`` layout (``labels``, ``color_map``,
``learning_map``, ``learning_map_inv`` and optionally ``class_names``), used by training (frames'
training labels), export (the palette) and replay (the mIoU of a labelled recording), so the
vehicle's mIoU and ``evaluate``'s read the same file the same way. SemanticKITTI and its siblings
ship such a file; nuScenes lidarseg and the synthetic drive get one here (``label_maps/``), so a
dataset with its own classes is a file, not code. Training class 0 is always the ignored class.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from seal_ros.config_files import parse_yaml
from seal_ros.errors import ConfigError

if TYPE_CHECKING:
    from seal_ros.model_package import ModelPackage

__all__ = ["BUILTIN", "BUILTIN_DIR", "IGNORE_CLASS", "LABEL_MAP_FILE", "LabelMap", "PackageLabels",
           "find_label_map", "load_label_map", "match_package", "palette_for"]

BUILTIN_DIR = Path(__file__).resolve().parent / "label_maps"
BUILTIN = ("nuscenes", "semantic-kitti")
IGNORE_CLASS = 0
"""Training class of points that are neither trained on nor scored (SLidR's protocol)."""
LABEL_MAP_FILE = "labels.yaml"
"""Label map written inside or beside labelled bags: what their ``label`` field means."""
_LAYOUT = ("the semantic-kitti.yaml layout (labels, color_map, learning_map, learning_map_inv"
           "[, class_names])")


@dataclass(frozen=True, eq=False)
class LabelMap:
    """Raw id -> training class lookup with class names and an RGB palette.

    Attributes:
        name: map name, e.g. ``nuscenes``.
        raw_names: raw id -> raw class name.
        learning_map: raw id (>= 0) -> training class (0 = ignore).
        class_names: training class names; index 0 is the ignored class.
        palette: (len(class_names), 3) uint8 RGB colour per training class.
        source: the file it was read from ("" when built in code); errors name it.
    """

    name: str
    raw_names: dict[int, str]
    learning_map: dict[int, int]
    class_names: tuple[str, ...]
    palette: np.ndarray
    source: str = ""
    _lookup: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = self.source or f"label map {self.name!r}"
        if not self.learning_map:
            raise ConfigError(f"{where}: learning_map is empty; expected raw id -> training class")
        bad = {raw: cls for raw, cls in self.learning_map.items()
               if raw < 0 or not 0 <= cls < len(self.class_names)}
        if bad:
            raise ConfigError(f"{where}: learning_map entries {bad} are not raw id >= 0 -> class "
                              f"0..{len(self.class_names) - 1}")
        if np.shape(self.palette) != (len(self.class_names), 3):
            raise ConfigError(f"{where}: palette is {np.shape(self.palette)}, expected "
                              f"({len(self.class_names)}, 3) RGB")
        raws = np.fromiter(self.learning_map, dtype=np.int64, count=len(self.learning_map))
        lookup = np.full(int(raws.max()) + 1, -1, dtype=np.int64)
        lookup[raws] = np.fromiter(self.learning_map.values(), dtype=np.int64, count=len(raws))
        object.__setattr__(self, "palette", np.asarray(self.palette, dtype=np.uint8))
        object.__setattr__(self, "_lookup", lookup)

    @property
    def num_classes(self) -> int:
        """Number of real (non-ignored) training classes, e.g. 16 for nuScenes."""
        return len(self.class_names) - 1

    def to_train(self, raw: np.ndarray, where: str = "labels") -> np.ndarray:
        """Map raw ids to training classes; an id absent from the map is an error, never dropped."""
        out = _look_up(self._lookup, raw)
        unknown = out < 0
        if unknown.any():
            ids = np.unique(np.asarray(raw)[unknown])[:10].tolist()
            raise ConfigError(f"{where}: {int(unknown.sum())} points carry raw label ids {ids} "
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
            raise ConfigError(f"label map {self.name!r}: classes {missing} have no raw id; "
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
        """Load a ``semantic-kitti.yaml``-style file.

        Raises:
            ConfigError: unreadable file, a missing key, or an entry of the wrong kind; the
                message names the file and the key.
        """
        path = Path(path)
        try:
            doc = parse_yaml(path.read_text())
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: cannot read the label map: {err}") from err
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: label map is {type(doc).__name__}, expected {_LAYOUT}")
        missing = [key for key in ("labels", "learning_map", "learning_map_inv") if key not in doc]
        if missing:
            raise ConfigError(f"{path}: label map lacks {missing}; expected {_LAYOUT}")
        raw_names = _table(doc, "labels", path, str)
        learning_map = _table(doc, "learning_map", path, _int)
        inverse = _table(doc, "learning_map_inv", path, _int)
        num = max(inverse, default=-1) + 1
        if num < 2 or sorted(inverse) != list(range(num)):
            raise ConfigError(f"{path}: learning_map_inv lists classes {sorted(inverse)}, "
                              f"expected 0..K-1 with K >= 2 (0 = ignored)")
        names = doc.get("class_names")
        if names is None:
            class_names = tuple(raw_names.get(inverse[i], f"class_{i}") for i in range(num))
        else:
            listed = (_table(doc, "class_names", path, str) if isinstance(names, dict)
                      else dict(enumerate(names)) if isinstance(names, list) else None)
            if listed is None or sorted(listed) != list(range(num)):
                raise ConfigError(f"{path}: class_names must name the {num} classes of "
                                  f"learning_map_inv, as a list or a mapping 0..{num - 1}")
            class_names = tuple(str(listed[i]) for i in range(num))
        colors = _table(doc, "color_map", path, _bgr) if doc.get("color_map") else {}
        grey = np.array([128, 128, 128], dtype=np.uint8)
        palette = np.stack([colors.get(inverse[i], grey)[::-1] for i in range(num)])
        return cls(str(doc.get("name", path.stem)), raw_names, learning_map, class_names, palette,
                   source=str(path))

    @classmethod
    def builtin(cls, name: str) -> LabelMap:
        """One of the maps shipped with Seal: ``nuscenes`` (16 classes), ``semantic-kitti`` (19)."""
        if name not in BUILTIN:
            raise ConfigError(f"unknown label map {name!r}; built-in maps are {BUILTIN}, or give "
                              f"a path to a semantic-kitti.yaml-style file")
        return cls.from_yaml(BUILTIN_DIR / f"{name}.yaml")


@dataclass(frozen=True, eq=False)
class PackageLabels:
    """Raw label id -> model package class id (``-1``: not evaluated: ignored or unknown ids).

    Attributes:
        lookup: (max raw id + 1,) int64 package class per raw id.
        source: the label map file it came from.
        unmatched: training classes with no package class of the same name (not evaluated).
    """

    lookup: np.ndarray
    source: str
    unmatched: tuple[str, ...] = ()

    def to_package(self, raw: np.ndarray) -> np.ndarray:
        """(N,) int64 package class ids; -1 for raw ids outside the map (a replay scores what
        it can; training, which must not drop labels, uses :meth:`LabelMap.to_train`)."""
        return _look_up(self.lookup, raw)


def match_package(label_map: LabelMap, package: ModelPackage) -> PackageLabels:
    """Match ``label_map``'s training classes to ``package``'s classes by name.

    A package exported from those classes maps one to one; a package with fewer (or reordered)
    classes still scores the ones it shares. The package's ignore class is never evaluated.

    Raises:
        ConfigError: no training class is a class of the package.
    """
    names = label_map.class_names
    to_package = np.full(len(names), -1, dtype=np.int64)  # training class -> package class
    unmatched = []
    for i, name in enumerate(names):
        if i == IGNORE_CLASS:
            continue
        if name in package.class_names:
            to_package[i] = package.class_names.index(name)
        else:
            unmatched.append(name)
    if package.ignore_id is not None:
        to_package[to_package == package.ignore_id] = -1
    if (to_package < 0).all():
        scored = [n for i, n in enumerate(names) if i != IGNORE_CLASS]
        raise ConfigError(f"{label_map.source or label_map.name}: none of its classes {scored} is "
                          f"a class of model package {package.path or package.model_id} "
                          f"({list(package.class_names)})")
    known = label_map._lookup >= 0
    lookup = np.full(len(label_map._lookup), -1, dtype=np.int64)
    lookup[known] = to_package[label_map._lookup[known]]
    return PackageLabels(lookup=lookup, source=label_map.source or label_map.name,
                         unmatched=tuple(unmatched))


def find_label_map(bag: Path) -> Path | None:
    """``labels.yaml`` inside the bag folder or beside it (where the synthetic writer puts it)."""
    base = bag if bag.is_dir() else bag.parent
    for folder in (base, base.parent):
        if (folder / LABEL_MAP_FILE).is_file():
            return folder / LABEL_MAP_FILE
    return None


def load_label_map(name_or_path: str | Path) -> LabelMap:
    """A built-in map by name, or a YAML file by path."""
    if str(name_or_path) in BUILTIN:
        return LabelMap.builtin(str(name_or_path))
    return LabelMap.from_yaml(name_or_path)


def palette_for(class_names: Sequence[str]) -> np.ndarray:
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
        palette[IGNORE_CLASS] = 0
    return palette


def _look_up(lookup: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """(N,) int64 ``lookup[raw]``; -1 for ids outside it (negative or past its end)."""
    raw = np.asarray(raw).astype(np.int64, copy=False)
    out = np.full(raw.shape, -1, dtype=np.int64)
    inside = (raw >= 0) & (raw < len(lookup))
    out[inside] = lookup[raw[inside]]
    return out


def _bgr(value: Any) -> np.ndarray:
    """A ``color_map`` entry: [B, G, R] with 0..255 ints."""
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(c, int) and 0 <= c <= 255 for c in value)):
        raise ValueError("expected [B, G, R] with 0..255 ints")
    return np.array(value, dtype=np.uint8)


def _int(value: Any) -> int:
    """An integer id or class written as an int (or a digit string), never a float or bool."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("expected an integer")
    return int(value)


def _table(doc: Mapping[str, Any], key: str, path: Path, value: Callable[[Any], Any]
           ) -> dict[int, Any]:
    """``doc[key]`` as {int id: value(v)}; the error names the file, the key and the entry."""
    entries = doc[key]
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: {key} is {type(entries).__name__}, expected a mapping of "
                          f"integer ids")
    out = {}
    for k, v in entries.items():
        try:
            out[_int(k)] = value(v)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{path}: {key} entry {k!r}: {v!r}: {err}; keys are integer ids "
                              f"({_LAYOUT})") from None
    return out
