"""Bag label ids -> model package class ids, from a label map in the semantic-kitti.yaml layout.

A labelled recording carries raw dataset ids (the synthetic drive: nuScenes lidarseg ids) and,
beside the bag, the label map that says what they mean (``labels.yaml``: ``labels``,
``learning_map``, ``learning_map_inv`` and optionally ``class_names``). ``learning_map`` sends raw
ids to training classes (0 = ignored); training classes are matched to the package's classes by
name, so a package exported from those classes maps one to one. seal_ros reads the file itself: the
vehicle side never imports the training code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from seal_ros.errors import ConfigError
from seal_ros.model_package import ModelPackage

__all__ = ["LABEL_MAP_FILE", "LabelMapping", "find_label_map", "load_label_mapping"]

LABEL_MAP_FILE = "labels.yaml"
"""Label map written beside (or inside) labelled bags by the synthetic drive writer."""


@dataclass(frozen=True, eq=False)
class LabelMapping:
    """Raw label id -> package class id (``-1``: not evaluated, e.g. ignored or unknown ids).

    Attributes:
        lookup: (max raw id + 1,) int64 package class per raw id.
        source: the YAML file it was read from.
        unmatched: training classes with no package class of the same name (not evaluated).
    """

    lookup: np.ndarray
    source: str
    unmatched: tuple[str, ...] = ()

    def to_package(self, raw: np.ndarray) -> np.ndarray:
        """(N,) int64 package class ids; -1 for raw ids outside the map."""
        raw = np.asarray(raw).astype(np.int64, copy=False)
        out = np.full(raw.shape, -1, dtype=np.int64)
        inside = (raw >= 0) & (raw < len(self.lookup))
        out[inside] = self.lookup[raw[inside]]
        return out


def find_label_map(bag: Path) -> Path | None:
    """``labels.yaml`` inside the bag folder or beside it (where the synthetic writer puts it)."""
    base = bag if bag.is_dir() else bag.parent
    for folder in (base, base.parent):
        if (folder / LABEL_MAP_FILE).is_file():
            return folder / LABEL_MAP_FILE
    return None


def _training_names(doc: dict, path: Path) -> list[str]:
    inverse = {int(k): int(v) for k, v in doc["learning_map_inv"].items()}
    num = max(inverse) + 1
    if sorted(inverse) != list(range(num)):
        raise ConfigError(f"{path}: learning_map_inv must list classes 0..{num - 1}")
    names = doc.get("class_names")
    if names is not None:
        return [str(names[i]) for i in range(num)]
    raw_names = {int(k): str(v) for k, v in doc["labels"].items()}
    return [raw_names.get(inverse[i], f"class_{i}") for i in range(num)]


def load_label_mapping(path: str | Path, package: ModelPackage) -> LabelMapping:
    """Read a semantic-kitti.yaml-style label map and match its classes to ``package``'s.

    Raises:
        ConfigError: unreadable file, missing keys, or no class in common with the package.
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read the label map: {err}") from err
    missing = [k for k in ("labels", "learning_map", "learning_map_inv")
               if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise ConfigError(f"{path}: label map lacks {missing}; expected the semantic-kitti.yaml "
                          f"layout (labels, learning_map, learning_map_inv[, class_names])")
    names = _training_names(doc, path)
    to_package = np.full(len(names), -1, dtype=np.int64)  # training class -> package class
    unmatched = []
    for i, name in enumerate(names[1:], start=1):  # training class 0 is ignored
        if name in package.class_names:
            to_package[i] = package.class_names.index(name)
        else:
            unmatched.append(name)
    if (to_package < 0).all():
        raise ConfigError(f"{path}: none of its classes {names[1:]} is a class of model package "
                          f"{package.path or package.model_id} ({list(package.class_names)})")
    learning = {int(k): int(v) for k, v in doc["learning_map"].items()}
    bad = {raw: cls for raw, cls in learning.items() if not 0 <= cls < len(names) or raw < 0}
    if bad:
        raise ConfigError(f"{path}: learning_map entries {bad} point outside classes "
                          f"0..{len(names) - 1}")
    lookup = np.full(max(learning) + 1, -1, dtype=np.int64)
    for raw, cls in learning.items():
        lookup[raw] = to_package[cls]
    if package.ignore_id is not None:
        lookup[lookup == package.ignore_id] = -1  # the ignore class is never evaluated
    return LabelMapping(lookup=lookup, source=str(path), unmatched=tuple(unmatched))
