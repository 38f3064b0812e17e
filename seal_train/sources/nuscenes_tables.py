"""nuScenes' tables and conventions: opening the devkit, choosing scenes, poses.

The devkit's failures (a missing table, invalid JSON, a dangling token) become a
:class:`DatasetError` that names the file and the record; a split becomes scene names; nuScenes'
``translation`` + ``rotation`` (w, x, y, z) poses convert to and from 4x4 transforms.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seal_ros.core.transforms import make_transform, quat_from_matrix
from seal_ros.errors import DatasetError
from seal_train.sources.splits import SPLIT_DIR, read_split_file, split_file

if TYPE_CHECKING:
    from nuscenes.nuscenes import NuScenes

__all__ = ["SPLITS", "matrix_to_pose", "open_devkit", "pose_to_matrix", "split_scenes"]

SPLITS = ("train", "val", "test", "mini_train", "mini_val", "train_detect", "train_track", "all")
"""Named splits: the devkit's ``create_splits_scenes`` plus ``all`` (every scene of the version)."""


def matrix_to_pose(T: np.ndarray) -> tuple[list[float], list[float]]:
    """4x4 rigid transform -> nuScenes ``(translation [x, y, z], rotation [w, x, y, z])``.

    The quaternion is unit-norm with ``w >= 0`` (Shepperd's method, exact to float64 rounding).
    """
    T = np.asarray(T, dtype=np.float64)
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) <= 0:
        raise DatasetError(f"not a rotation matrix (R R^T != I or det <= 0): {R.tolist()}")
    x, y, z, w = quat_from_matrix(R)  # w >= 0
    quat = np.array([w, x, y, z])
    return [float(v) for v in T[:3, 3]], [float(v) for v in quat]


def pose_to_matrix(translation: Sequence[float], rotation: Sequence[float]) -> np.ndarray:
    """nuScenes ``translation`` and ``rotation`` (quaternion w, x, y, z) -> (4, 4) float64."""
    w, x, y, z = rotation
    return make_transform(np.asarray(translation, dtype=np.float64), np.array([x, y, z, w]))


def split_scenes(split: str | Path, available: list[str], dataroot: Path) -> list[str]:
    """Scene names of ``split`` among ``available``: ``all``, a named split (the dataroot's own
    ``splits/<name>.txt`` when it has one, else the devkit's) or a scene-list file."""
    if split == "all":
        return list(available)
    path = split_file(dataroot, split, SPLITS)
    if path is None:
        if not (isinstance(split, str) and split in SPLITS):
            raise DatasetError(f"split {str(split)!r} is neither one of {SPLITS} nor an existing "
                               f"scene-list file (one scene name per line)")
        from nuscenes.utils.splits import create_splits_scenes

        wanted = set(create_splits_scenes()[split])
        chosen = [name for name in available if name in wanted]
        if not chosen:
            raise DatasetError(f"split {split!r} selects none of the {len(available)} scenes in "
                               f"this dataset ({available[:5]}...); use 'all', a scene-list file, "
                               f"or list the scenes in {dataroot / SPLIT_DIR / (split + '.txt')}")
        return chosen
    names = read_split_file(path)
    known = set(available)
    missing = [name for name in names if name not in known]
    if missing:
        raise DatasetError(f"{path}: scenes {missing[:10]} are not in this dataset; it has "
                           f"{len(available)} scenes, e.g. {available[:5]}")
    listed = set(names)
    return [name for name in available if name in listed]


def open_devkit(dataroot: Path, version: str) -> NuScenes:
    """The devkit's NuScenes, its assertion / lookup failures turned into DatasetError."""
    try:
        from nuscenes.nuscenes import NuScenes
    except ImportError as err:
        raise DatasetError(f"reading nuScenes needs nuscenes-devkit (pip install "
                           f"nuscenes-devkit==1.2.0): {err}") from err
    table_root = dataroot / version
    if not table_root.is_dir():
        raise DatasetError(f"{table_root}: no such directory; expected the nuScenes tables of "
                           f"version {version!r} there (category.json, sample.json, ...)")
    try:
        return NuScenes(version=version, dataroot=str(dataroot), verbose=False)
    except FileNotFoundError as err:
        raise DatasetError(f"{table_root}: missing table {err.filename}; expected all 13 nuScenes "
                           f"tables") from err
    except ValueError as err:  # json.JSONDecodeError
        raise DatasetError(f"{table_root}: a table is not valid JSON: {err}") from err
    except AssertionError as err:
        raise DatasetError(f"{table_root}: nuscenes-devkit rejected the dataset: {err}") from err
    except KeyError as err:
        raise DatasetError(f"{table_root}: {_dangling_reference(table_root, str(err))}") from err


def _dangling_reference(table_root: Path, token: str) -> str:
    """Explain a devkit KeyError: which record refers to which missing token."""
    import json

    refs = (("sample_data", "calibrated_sensor_token", "calibrated_sensor"),
            ("calibrated_sensor", "sensor_token", "sensor"),
            ("sample_data", "sample_token", "sample"),
            ("sample_annotation", "instance_token", "instance"),
            ("instance", "category_token", "category"))
    try:
        tables: dict[str, list[dict[str, Any]]] = {}
        for name in {t for ref in refs for t in (ref[0], ref[2])}:
            tables[name] = json.loads((table_root / f"{name}.json").read_text())
        for src, key, dst in refs:
            known = {rec["token"] for rec in tables[dst]}
            for rec in tables[src]:
                if rec.get(key) not in known:
                    return (f"{src}.json record {rec.get('token')} refers to {key} "
                            f"{rec.get(key)!r}, which is missing from {dst}.json")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return f"a record refers to token {token}, which no table holds"
