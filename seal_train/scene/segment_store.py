"""The segment store: one ``.npz`` per scan pair plus a manifest.

``<root>/<frame_id_a>.npz`` (the frame id's ``/`` kept as sub-folders, as the superpixel store
does) holds ``a`` (N_a,) and ``b`` (N_b,) int32 segment ids (NOISE = -1; the same id is the same
object in both scans) and the two frame ids, written with :func:`numpy.savez` and read with
``allow_pickle=False`` (a store may come from anyone). ``manifest.yaml`` records the parameters,
the pair rule and seed (a store holds one setting only) and the list of pairs. Files are written
atomically, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from seal_ros.atomic_files import write_bytes
from seal_ros.config_files import parse_yaml
from seal_ros.errors import DatasetError
from seal_train.superpixels.store import id_path

if TYPE_CHECKING:
    from seal_train.scene.pairs import SegmentParams
    from seal_train.sources.detect import FrameSource

__all__ = ["SEGMENT_STORE_VERSION", "SegmentManifest", "SegmentStore", "ensure_segments"]

SEGMENT_STORE_VERSION = 1
MANIFEST = "manifest.yaml"
SUFFIX = ".npz"


@dataclass(frozen=True)
class SegmentManifest:
    """What produced a store (``setting``: parameters, pair rule, seed) and the pairs it holds."""

    parameters: dict[str, Any]
    pair_rule: str
    seed: int
    pairs: tuple[tuple[str, str], ...] = ()
    version: int = SEGMENT_STORE_VERSION

    def setting(self) -> dict[str, Any]:
        """Everything that must match for a run to add to the store, flat."""
        return {**self.parameters, "pair_rule": self.pair_rule, "seed": self.seed,
                "version": self.version}

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "pair_rule": self.pair_rule, "seed": self.seed,
                "parameters": dict(self.parameters), "pairs": [list(p) for p in self.pairs]}


class SegmentStore:
    """Read and write the segments of scan pairs under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._partners: dict[str, str] | None = None

    def path(self, frame_id_a: str) -> Path:
        return id_path(self.root, frame_id_a, SUFFIX, "frame id")

    def manifest(self) -> SegmentManifest | None:
        path = self.root / MANIFEST
        if not path.is_file():
            return None
        try:
            doc = parse_yaml(path.read_text()) or {}
            pairs = tuple((str(a), str(b)) for a, b in doc.get("pairs") or ())
            return SegmentManifest(dict(doc["parameters"]), str(doc["pair_rule"]),
                                   int(doc["seed"]), pairs, int(doc["version"]))
        except (KeyError, TypeError, ValueError, yaml.YAMLError) as err:
            raise DatasetError(f"{path}: malformed segment manifest ({err!r}); expected version, "
                               f"pair_rule, seed, parameters, pairs") from err

    def open_for(self, manifest: SegmentManifest, overwrite: bool = False) -> SegmentManifest:
        """Prepare the store for ``manifest``'s setting and return the manifest in force (its
        pairs kept); a different setting is an error naming the first key that differs."""
        existing = self.manifest()
        if existing is not None and not overwrite:
            old, new = existing.setting(), manifest.setting()
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    raise DatasetError(
                        f"{self.root}: holds segments made with {key}={old.get(key)!r}; this run "
                        f"asks for {key}={new.get(key)!r}. Use another --out or --overwrite")
            return existing
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_manifest(manifest)
        return manifest

    def write_manifest(self, manifest: SegmentManifest) -> None:
        write_bytes(self.root / MANIFEST, yaml.safe_dump(manifest.to_dict(), sort_keys=False
                                                         ).encode())
        self._partners = None

    def pairs(self) -> list[tuple[str, str]]:
        """``(frame_id_a, frame_id_b)`` of every pair the manifest lists, in dataset order."""
        manifest = self.manifest()
        if manifest is None:
            raise DatasetError(f"{self.root}: no {MANIFEST}; not a segment store (make one with "
                               f"`python -m seal_train segments`)")
        return list(manifest.pairs)

    def partner(self, frame_id_a: str) -> str | None:
        """The frame paired with ``frame_id_a`` (its t+n), or None when it starts no pair."""
        if self._partners is None:
            self._partners = dict(self.pairs())
        return self._partners.get(frame_id_a)

    def has(self, frame_id_a: str) -> bool:
        return self.path(frame_id_a).is_file()

    def write(self, frame_id_a: str, frame_id_b: str, ids_a: np.ndarray, ids_b: np.ndarray
              ) -> Path:
        """Write one pair's ids (each (N,) integers >= -1, stored as int32)."""
        arrays = {}
        for name, ids in (("a", ids_a), ("b", ids_b)):
            ids = np.asarray(ids)
            if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer) or (
                    ids.size and (ids.min() < -1 or ids.max() > np.iinfo(np.int32).max)):
                raise DatasetError(f"segments of pair {frame_id_a} -> {frame_id_b}: {name} must "
                                   f"be (N,) integer ids >= -1, got {ids.shape} {ids.dtype}")
            arrays[name] = ids.astype(np.int32)
        buffer = io.BytesIO()
        np.savez(buffer, frame_a=np.array(frame_id_a), frame_b=np.array(frame_id_b), **arrays)
        return write_bytes(self.path(frame_id_a), buffer.getvalue())

    def _load(self, frame_id_a: str) -> dict[str, np.ndarray]:
        path = self.path(frame_id_a)
        if not path.is_file():
            raise DatasetError(f"{path}: missing segment file for the pair starting at frame "
                               f"{frame_id_a} (run `python -m seal_train segments` to make it)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {key: npz[key] for key in ("a", "b", "frame_b")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            raise DatasetError(f"{path}: corrupt segment file for frame {frame_id_a} ({err!r}); "
                               f"expected an .npz with int32 arrays a, b; delete it and rerun "
                               f"`python -m seal_train segments` to remake it") from err

    def stored_partner(self, frame_id_a: str) -> str:
        """The partner frame id written in the pair's own file (a resume needs it when an
        interrupted run left the file but not yet its manifest entry)."""
        return str(self._load(frame_id_a)["frame_b"])

    def read(self, frame_id_a: str, sizes: tuple[int, int] | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """(N_a,) and (N_b,) int32 ids of the pair starting at ``frame_id_a``; ``sizes``
        (N_a, N_b), the two scans' point counts, are checked when given."""
        path = self.path(frame_id_a)
        data = self._load(frame_id_a)
        ids = data["a"], data["b"]
        for name, array in zip("ab", ids, strict=True):
            if array.ndim != 1 or array.dtype != np.int32:
                raise DatasetError(f"{path}: {name} must be (N,) int32, got {array.shape} "
                                   f"{array.dtype}")
        if sizes is not None and (len(ids[0]), len(ids[1])) != tuple(sizes):
            raise DatasetError(f"{path}: holds ids for ({len(ids[0])}, {len(ids[1])}) points; "
                               f"the scans have {tuple(sizes)}: the store was made from other "
                               f"data")
        return ids


def ensure_segments(frames: FrameSource, store_dir: str | Path,
                    params: SegmentParams | None = None, offset: int = 1, seed: int = 0
                    ) -> SegmentStore:
    """Make (or finish) the segment store for ``frames`` on first use (pretraining); all cores.
    Resumable, so a store that is complete costs one existence check per pair."""
    import os

    from seal_train.scene.generate_segments import generate_segments  # it imports this module

    generate_segments(frames, store_dir, params, offset, seed, workers=os.cpu_count() or 1)
    return SegmentStore(store_dir)
