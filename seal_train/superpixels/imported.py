"""Masks any vision foundation model wrote beforehand, imported as a superpixel source.

Running SEEM, OpenSeeD, X-Decoder, Mask2Former or SAM is often done once, elsewhere, with the
model's own scripts; this source reads what they wrote, so any VFM feeds Seal without a wrapper.

Lookup: the masks of a camera image are found by its stable id (``CameraView.image_id``), the key
the superpixel store uses too: ``<DIR>/<image_id>.<ext>`` with ``/`` in the id kept as
sub-folders. That is ``<DIR>/<sample_data token>.png`` for nuScenes (the name Seal's SEEM script
writes), ``<DIR>/<sequence>/image_2/<frame>.png`` for SemanticKITTI and
``<DIR>/<topic>/<stamp_ns>.png`` for bags. Images are not matched by their file name: a Frame does
not carry it.

Formats (:class:`MaskFormat`):

- ``instance-png``: one single-channel uint8 or uint16 PNG of instance ids per image (``void_id``,
  default 0, is no segment; ``None`` makes every value a segment, e.g. 65535 for a Seal store).
- ``panoptic``: COCO panoptic (https://cocodataset.org/#format-data, "Panoptic Segmentation"): an
  RGB PNG with id = R + 256 G + 256^2 B, or a single-channel PNG of ids (what Seal's SEEM script
  writes), plus ``<image_id>.json``, a dict with ``segments_info`` or a bare list of segments, each
  with ``id`` and ``category_id`` (detectron2's panoptic output, as SEEM / OpenSeeD / X-Decoder /
  Mask2Former demos dump it). Id 0 is void. The category of each segment goes to the class table.
- ``semantic-png``: one class id per pixel (SuperFlow's ``openseed_inst17`` maps: 17 class ids
  shared by all cameras). One segment per class present, or with ``components`` one per
  4-connected region of a class; the class goes to the class table.
- ``sam-rle``: SAM's ``scripts/amg.py --convert-to-rle`` output ``<image_id>.json``: a list of
  records whose ``segmentation`` is a COCO RLE ``{size: [H, W], counts}``, with ``area``. Masks
  overlap; they are painted large to small (smaller masks win), as Seal's SAM script does, and
  pixels no mask covers are no segment (Seal's release gave them id 0, the largest mask's id).

Every format ends as dense uint16 ids with :data:`~seal_train.superpixels.store.NO_SEGMENT`
(65535) for no segment, so ids never wrap at 256 and no mask shares the void id.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seal_ros.errors import ConfigError, DatasetError
from seal_train.sources.frame import CameraView
from seal_train.superpixels.sources import SkipImage
from seal_train.superpixels.store import densify, densify_values


class MaskFormat(enum.StrEnum):
    """``--format``: how the imported masks are encoded (module docstring)."""

    INSTANCE_PNG = "instance-png"
    PANOPTIC = "panoptic"
    SEMANTIC_PNG = "semantic-png"
    SAM_RLE = "sam-rle"


_FILES: dict[MaskFormat, tuple[str, ...]] = {
    MaskFormat.INSTANCE_PNG: (".png",), MaskFormat.PANOPTIC: (".png", ".json"),
    MaskFormat.SEMANTIC_PNG: (".png",), MaskFormat.SAM_RLE: (".json",)}
"""Files each format reads per image, as suffixes of ``<DIR>/<image_id>``."""


def mask_files(root: Path, image_id: str, fmt: MaskFormat) -> tuple[Path, ...]:
    """The files holding ``image_id``'s masks in ``root`` (the lookup rule above)."""
    rel = image_id.strip("/")
    if not rel or ".." in Path(rel).parts:
        raise DatasetError(f"image id {image_id!r} cannot name a file in {root}")
    return tuple(root / f"{rel}{suffix}" for suffix in _FILES[fmt])


@dataclass(frozen=True)
class ImportedMasksSource:
    """Superpixels read from a folder of VFM masks (module docstring: lookup and formats).

    Attributes:
        root: the folder (``--masks``).
        format: a :class:`MaskFormat` (``--format``).
        void_id: the pixel value / panoptic id that means no segment (``--void-id``); None: none
            does. Ignored by ``sam-rle``, whose uncovered pixels are no segment.
        components: ``semantic-png`` only: one segment per connected region of a class rather
            than one per class.
        skip_missing: an image without mask files is skipped (counted in the report) instead of
            failing the run. Mis-sized or malformed files always fail: they mean the masks belong
            to other images. Not a parameter: it changes which images are done, not their maps.
    """

    root: Path
    format: MaskFormat = MaskFormat.INSTANCE_PNG
    void_id: int | None = 0
    components: bool = False
    skip_missing: bool = False
    name: str = "masks"

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "format", MaskFormat(self.format))
        except ValueError:
            raise ConfigError(f"--format {self.format!r}: expected one of "
                              f"{', '.join(f.value for f in MaskFormat)}") from None
        object.__setattr__(self, "root", Path(self.root))
        if not self.root.is_dir():
            raise ConfigError(f"--masks {self.root}: not a folder")
        if self.components and self.format is not MaskFormat.SEMANTIC_PNG:
            raise ConfigError(f"--components splits semantic-png classes; --format is "
                              f"{self.format.value}")
        if self.format is MaskFormat.SAM_RLE:
            try:  # optional dependency: fail before any work
                import pycocotools.mask  # noqa: F401
            except ImportError as err:
                raise ConfigError(f"--format sam-rle needs pycocotools ({err})") from err

    def parameters(self) -> dict[str, Any]:
        return {"root": str(self.root.resolve()), "format": self.format.value,
                "void_id": self.void_id, "components": self.components}

    def segment(self, camera: CameraView) -> np.ndarray:
        return self.segment_with_classes(camera)[0]

    def segment_with_classes(self, camera: CameraView) -> tuple[np.ndarray, np.ndarray | None]:
        """Dense ids of ``camera``'s imported masks and their classes (None if the format has
        none)."""
        files = mask_files(self.root, camera.image_id, self.format)
        missing = [path for path in files if not path.is_file()]
        if missing:
            message = (f"image {camera.image_id} ({camera.name}): no {self.format.value} masks; "
                       f"expected {', '.join(map(str, missing))}")
            if self.skip_missing:
                raise SkipImage(message)
            raise DatasetError(message + " (--skip-missing skips such images)")
        shape = (camera.height, camera.width)
        if self.format is MaskFormat.SAM_RLE:
            return densify(_paint_sam(files[0], shape)), None
        ids = _read_png(files[0], shape, rgb=self.format is MaskFormat.PANOPTIC)
        valid = None if self.void_id is None else ids != self.void_id
        if self.format is MaskFormat.INSTANCE_PNG:
            return densify(ids, valid), None
        if self.format is MaskFormat.PANOPTIC:
            segments, uniq = densify_values(ids, valid)
            return segments, _categories(files[1], uniq)
        if self.components:
            return _components(ids, valid)
        return densify_values(ids, valid)  # one segment per class: its id is the class


def _read_png(path: Path, shape: tuple[int, int], rgb: bool) -> np.ndarray:
    """(H, W) int64 ids of a uint8/uint16 id PNG; an RGB PNG (``rgb``) as R + 256 G + 256^2 B."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f"{path}: not a readable PNG")
    if rgb and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        bgr = image.astype(np.int64)
        ids = bgr[..., 2] + 256 * bgr[..., 1] + 65536 * bgr[..., 0]
    elif image.ndim == 2 and image.dtype in (np.uint8, np.uint16):
        ids = image.astype(np.int64)
    else:
        expected = "an RGB or single-channel" if rgb else "a single-channel"
        raise DatasetError(f"{path}: expected {expected} uint8/uint16 id PNG, got "
                           f"{image.shape} {image.dtype}")
    if ids.shape != shape:
        raise DatasetError(f"{path}: masks are {ids.shape} (H, W), the image is {shape}")
    return ids


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: not readable JSON ({err})") from err


def _categories(path: Path, ids: np.ndarray) -> np.ndarray:
    """(K,) category_id of each panoptic segment id in ``ids``, from ``segments_info``."""
    doc = _read_json(path)
    info: Any = doc.get("segments_info") if isinstance(doc, dict) else doc
    try:
        table = {int(seg["id"]): int(seg["category_id"]) for seg in info}
    except (TypeError, KeyError, ValueError) as err:
        raise DatasetError(f"{path}: expected segments_info, a list of {{id, category_id, ...}} "
                           f"({err!r})") from err
    unknown = [int(i) for i in ids if int(i) not in table]
    if unknown:
        raise DatasetError(f"{path}: the PNG has segment ids {unknown[:8]} that segments_info "
                           f"does not list")
    return np.array([table[int(i)] for i in ids], dtype=np.int64)


def _components(classes: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """One segment per 4-connected region of equal class; returns ids and each one's class."""
    from skimage.measure import label

    keep = np.ones(classes.shape, bool) if valid is None else valid
    regions = label(np.where(keep, classes, -1), background=-1, connectivity=1)  # 0 = void
    segments, uniq = densify_values(regions, regions > 0)
    region_class = np.zeros(int(regions.max()) + 1, dtype=np.int64)
    region_class[regions[keep]] = classes[keep]
    return segments, region_class[uniq]


def _paint_sam(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int64 mask rank per pixel (-1 = uncovered), masks painted by area, large first."""
    from pycocotools import mask as mask_utils

    records = _read_json(path)
    if not isinstance(records, list):
        raise DatasetError(f"{path}: expected a list of SAM mask records (amg.py "
                           f"--convert-to-rle)")
    rles, areas = [], []
    for index, record in enumerate(records):
        try:
            rle = dict(record["segmentation"])
            size = tuple(int(v) for v in rle["size"])
            if isinstance(rle["counts"], list):  # uncompressed RLE
                rle = mask_utils.frPyObjects(rle, *size)
            elif isinstance(rle["counts"], str):
                rle["counts"] = rle["counts"].encode()
        except (TypeError, KeyError, ValueError) as err:
            raise DatasetError(f"{path}: record {index} has no COCO RLE segmentation "
                               f"{{size, counts}} ({err!r})") from err
        if size != shape:
            raise DatasetError(f"{path}: record {index} is {size} (H, W), the image is {shape}")
        rles.append(rle)
        area = record.get("area")
        areas.append(float(mask_utils.area(rle)) if area is None else float(area))
    ranks = np.full(shape, -1, dtype=np.int64)
    # one decode per mask, not per pixel: at most a few hundred masks per image
    for rank, index in enumerate(np.argsort(-np.asarray(areas), kind="stable")):
        ranks[mask_utils.decode(rles[index]).astype(bool)] = rank
    return ranks
