"""The superpixel store: one uint16 PNG per camera image plus a manifest.

Ids are dense (0..K-1) per image and :data:`NO_SEGMENT` (65535) marks pixels in no segment, so there
is no uint8 wrap, no id-0 collision and no per-image id stride. Files are keyed by the image's
stable id and written atomically, so an interrupted run resumes where it stopped.

Sources that know a semantic class per segment (COCO-panoptic ``category_id``, semantic-class maps
such as SuperFlow's ``openseed_inst17``) also leave a class table beside the PNG:
``<image_id>.classes.npy``, an (K,) int32 array whose entry k is the class of segment k (-1 =
unknown), written with :func:`numpy.save` and read with ``allow_pickle=False``. It is written
before the PNG, so the PNG stays the mark of a finished image and a resumed run rewrites both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seal_ros.atomic_files import write_bytes
from seal_ros.config_files import parse_yaml
from seal_ros.errors import DatasetError

NO_SEGMENT = 65535
STORE_VERSION = 1
MANIFEST = "manifest.yaml"
CLASSES_SUFFIX = ".classes.npy"
"""Class table file: ``<image_id>.classes.npy`` beside ``<image_id>.png``."""
UNKNOWN_CLASS = -1
"""Class table entry of a segment whose class the source does not know."""


def densify(segments: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Relabel any integer segment map to dense uint16 ids 0..K-1 (in order of first id value);
    pixels where ``valid`` is False (or negative ids) become :data:`NO_SEGMENT`."""
    return densify_values(segments, valid)[0]


def densify_values(segments: np.ndarray, valid: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`densify`, also returning the (K,) original id of each dense id (sorted), so a
    caller can carry per-id data such as classes over to the dense ids."""
    segments = np.asarray(segments)
    keep = segments >= 0 if valid is None else (valid & (segments >= 0))
    out = np.full(segments.shape, NO_SEGMENT, dtype=np.uint16)
    uniq, inverse = np.unique(segments[keep], return_inverse=True)
    if len(uniq) >= NO_SEGMENT:
        raise DatasetError(f"{len(uniq)} segments in one image; at most {NO_SEGMENT - 1} fit")
    out[keep] = inverse.astype(np.uint16)
    return out, uniq


def id_path(root: Path, item_id: str, suffix: str, what: str) -> Path:
    """``root/<id><suffix>``: ids with ``/`` become sub-folders; an id that would leave ``root``
    (empty, ``..``) is refused, since ids come from the user's data."""
    rel = item_id.strip("/")
    if not rel or ".." in Path(rel).parts:
        raise DatasetError(f"{what} {item_id!r} cannot name a file in {root}")
    return root / f"{rel}{suffix}"


@dataclass(frozen=True)
class Manifest:
    """What produced a store; a store only ever holds one source with one parameter set."""

    source: str
    parameters: dict[str, Any]
    version: int = STORE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "parameters": dict(self.parameters), "version": self.version}


class SuperpixelStore:
    """Read and write superpixel maps under ``root``; ``image_id`` slashes become sub-folders."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, image_id: str) -> Path:
        return id_path(self.root, image_id, ".png", "image id")

    def manifest(self) -> Manifest | None:
        path = self.root / MANIFEST
        if not path.is_file():
            return None
        doc = parse_yaml(path.read_text()) or {}
        try:
            return Manifest(doc["source"], doc.get("parameters") or {}, int(doc["version"]))
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"{path}: malformed manifest ({err}); expected source, parameters, "
                               f"version") from err

    def open_for(self, manifest: Manifest, overwrite: bool = False) -> None:
        """Prepare the store for ``manifest``; refuse to mix sources or parameters."""
        existing = self.manifest()
        if existing is not None and existing != manifest and not overwrite:
            raise DatasetError(
                f"{self.root}: holds superpixels from {existing.source} {existing.parameters} "
                f"(version {existing.version}); asked for {manifest.source} {manifest.parameters}. "
                f"Use another --out or --overwrite")
        self.root.mkdir(parents=True, exist_ok=True)
        if existing != manifest:
            write_bytes(self.root / MANIFEST,
                                yaml.safe_dump(manifest.to_dict(), sort_keys=True).encode())

    def classes_path(self, image_id: str) -> Path:
        png = self.path(image_id)
        return png.with_name(png.name[:-len(".png")] + CLASSES_SUFFIX)

    def has(self, image_id: str) -> bool:
        return self.path(image_id).is_file()

    def write(self, image_id: str, segments: np.ndarray, classes: np.ndarray | None = None
              ) -> Path:
        """Write one image's map; ``classes`` (K,) int gives segment k's class (see the module
        docstring); without it a class table left by an earlier run is removed."""
        import cv2

        segments = np.asarray(segments)
        if segments.ndim != 2 or segments.dtype != np.uint16:
            raise DatasetError(f"superpixels for {image_id}: expected (H, W) uint16, got "
                               f"{segments.shape} {segments.dtype}")
        ok, png = cv2.imencode(".png", segments)
        if not ok:
            raise DatasetError(f"superpixels for {image_id}: PNG encoding failed")
        path = self.path(image_id)
        table = self.classes_path(image_id)
        if classes is None:
            table.unlink(missing_ok=True)
        else:
            write_bytes(table, _encode_classes(image_id, segments, classes))
        write_bytes(path, png.tobytes())
        return path

    def segment_classes(self, image_id: str) -> np.ndarray | None:
        """(K,) int32 class of each segment of ``image_id`` (-1 = unknown), or None when the
        source gave no classes."""
        path = self.classes_path(image_id)
        if not path.is_file():
            return None
        try:
            classes = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DatasetError(f"{path}: unreadable class table for image {image_id} ({err})"
                               ) from err
        if classes.ndim != 1 or classes.dtype != np.int32:
            raise DatasetError(f"{path}: expected a (K,) int32 class table, got {classes.shape} "
                               f"{classes.dtype}")
        return classes

    def read(self, image_id: str, shape: tuple[int, int] | None = None) -> np.ndarray:
        """(H, W) uint16 ids; ``shape`` (H, W) is checked when given."""
        import cv2

        path = self.path(image_id)
        segments = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if segments is None:
            raise DatasetError(f"{path}: missing or unreadable superpixel PNG for image {image_id}")
        if segments.dtype != np.uint16 or segments.ndim != 2:
            raise DatasetError(f"{path}: expected a single-channel uint16 PNG, got "
                               f"{segments.shape} {segments.dtype}")
        if shape is not None and segments.shape != tuple(shape):
            raise DatasetError(f"{path}: superpixels are {segments.shape}, image is {tuple(shape)}")
        return segments


def _encode_classes(image_id: str, segments: np.ndarray, classes: np.ndarray) -> bytes:
    """The ``.npy`` bytes of a class table, checked against the map it belongs to."""
    import io

    classes = np.asarray(classes)
    valid = segments[segments != NO_SEGMENT]
    count = int(valid.max()) + 1 if valid.size else 0
    if classes.ndim != 1 or len(classes) != count or not np.issubdtype(classes.dtype, np.integer):
        raise DatasetError(f"classes for {image_id}: expected ({count},) integers, one per "
                           f"segment, got {classes.shape} {classes.dtype}")
    if classes.size and (classes.min() < UNKNOWN_CLASS or classes.max() > np.iinfo(np.int32).max):
        raise DatasetError(f"classes for {image_id}: ids must be in -1..{np.iinfo(np.int32).max}")
    buffer = io.BytesIO()
    np.save(buffer, classes.astype(np.int32), allow_pickle=False)
    return buffer.getvalue()
