"""SAM superpixels: segment_anything's automatic mask generator, painted into a dense uint16 map.

Seal's release (``generation/SAM/superpixel_generation.py``, method notes section 1.2) ran
``SamAutomaticMaskGenerator`` with its defaults on ViT-H, sorted the masks by area descending,
painted them in that order (small masks on top) and saved the rank as a uint8 PNG: uncovered
pixels were 0, the largest mask's id, and ids past 255 wrapped. Here the same masks are painted
the same way into the store's uint16 map (:mod:`seal_train.superpixels.store`): ids are dense
from 0 in area rank, uncovered pixels are :data:`NO_SEGMENT`, and more than 65534 segments is an
error, never a wrap.

What differs from calling the generator image by image:

- The checkpoint is a file the user gives, read weights-only (:mod:`.sam_model`).
- The model is built lazily, on the first image, and dropped when the source is pickled.
- The image encoder, SAM's cost, runs on ``encoder_batch`` images at once; the generator's
  predictor then takes the precomputed embedding (:func:`preset_predictor`), prompts go through
  in ``points_per_batch`` batches as in ``segment_anything/automatic_mask_generator.py``.
- Small uncovered regions can take their nearest segment's id (``fill_holes_area``).

:func:`make_sam_source` builds ``sam`` and ``sam-lidar`` (:mod:`.sam_lidar`) for the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seal_ros.config_files import parse_yaml
from seal_ros.errors import ConfigError
from seal_train.sources.frame import CameraView, Frame
from seal_train.superpixels.sam_model import (
    SAM_MODELS,
    LazySam,
    SamModel,
    build_tiny_sam,
    encode_images,
    preset_predictor,
    sync,
)
from seal_train.superpixels.store import NO_SEGMENT, densify

if TYPE_CHECKING:
    from seal_train.superpixels.sources import SuperpixelSource

__all__ = ["SAM_MODELS", "SamGeneratorSettings", "SamModel", "SamSource", "build_tiny_sam",
           "fill_small_holes", "make_sam_source", "paint_masks"]


def paint_masks(masks: Sequence[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) uint16 dense ids from boolean masks, painted large to small (small on top).

    Seal's painting order (method notes section 1.2): a small mask inside a large one stays
    visible. Ids follow area rank among the masks still visible (a mask hidden by smaller ones
    leaves no id behind); uncovered pixels are :data:`NO_SEGMENT`, never a mask's id.
    """
    canvas = np.full(shape, -1, dtype=np.int64)
    areas = np.asarray([int(np.count_nonzero(m)) for m in masks], dtype=np.int64)
    for rank, index in enumerate(np.argsort(-areas, kind="stable")):
        canvas[np.asarray(masks[index], dtype=bool)] = rank
    return densify(canvas)


def fill_small_holes(segments: np.ndarray, max_area: int) -> np.ndarray:
    """Uncovered regions smaller than ``max_area`` pixels take the nearest segment's id.

    SAM's masks leave thin gaps along shared edges that would otherwise pair no point; a large
    uncovered region (sky, a region no prompt hit) stays :data:`NO_SEGMENT`. Ids stay dense:
    filling only grows existing segments.
    """
    uncovered = segments == NO_SEGMENT
    if max_area <= 0 or not uncovered.any() or uncovered.all():
        return segments
    import cv2
    from scipy import ndimage

    _, regions, stats, _ = cv2.connectedComponentsWithStats(uncovered.astype(np.uint8),
                                                          connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < max_area
    small[0] = False  # label 0: the covered pixels
    fill = small[regions]
    if not fill.any():
        return segments
    _, (rows, cols) = ndimage.distance_transform_edt(uncovered, return_indices=True)
    out = segments.copy()
    out[fill] = segments[rows[fill], cols[fill]]  # nearest covered pixel
    return out


@dataclass(frozen=True)
class SamGeneratorSettings:
    """SamAutomaticMaskGenerator's parameters (its names and Seal's defaults), plus Seal's fill.

    ``point_grids`` and ``output_mode`` are not settable: the grid is ``points_per_side`` and
    the painting needs binary masks. See ``segment_anything/automatic_mask_generator.py``.
    """

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0  # SAM's postprocess: holes and islands below this are removed
    fill_holes_area: int = 0  # Seal: uncovered regions below this take the nearest segment

    def __post_init__(self) -> None:
        bad = [f"{k}={getattr(self, k)} (>= 1)" for k in ("points_per_side", "points_per_batch",
                                                          "crop_n_points_downscale_factor")
               if getattr(self, k) < 1]
        bad += [f"{k}={getattr(self, k)} (0..1)" for k in ("pred_iou_thresh",
                "stability_score_thresh", "box_nms_thresh", "crop_nms_thresh",
                "crop_overlap_ratio") if not 0 <= getattr(self, k) <= 1]
        bad += [f"{k}={getattr(self, k)} (>= 0)" for k in ("crop_n_layers",
                "min_mask_region_area", "fill_holes_area") if getattr(self, k) < 0]
        if bad:
            raise ConfigError(f"sam settings out of range: {', '.join(bad)}")

    def generator_kwargs(self) -> dict[str, Any]:
        kwargs = asdict(self)
        kwargs.pop("fill_holes_area")
        return kwargs


@dataclass(frozen=True, eq=False)
class SamSource(LazySam):
    """SAM's automatic masks as superpixels (a :class:`~.sources.SuperpixelSource`, ``sam``).

    Attributes as :class:`~.sam_model.LazySam`; ``settings`` are the generator's parameters.
    """

    settings: SamGeneratorSettings = SamGeneratorSettings()
    name: str = "sam"

    def _generator(self) -> tuple[Any, str]:
        if "generator" not in self._built:
            from segment_anything import SamAutomaticMaskGenerator

            model, device = self.built_model()
            generator = SamAutomaticMaskGenerator(model, **self.settings.generator_kwargs())
            generator.predictor = preset_predictor(model)
            self._built["generator"] = generator
        return self._built["generator"], self._built["device"]

    def segment(self, camera: CameraView) -> np.ndarray:
        return self.segment_many([camera])[0]

    def segment_frame(self, frame: Frame) -> dict[str, np.ndarray]:
        """All cameras of ``frame``, the encoder batched over them (see ``generate``)."""
        cameras = frame.cameras
        return dict(zip((c.image_id for c in cameras), self.segment_many(cameras), strict=True))

    def segment_many(self, cameras: Sequence[CameraView],
                     timing: dict[str, float] | None = None) -> list[np.ndarray]:
        """(H, W) uint16 maps for ``cameras``; ``timing`` accumulates seconds in ``encoder_s``,
        ``decoder_s`` (the generator: prompts, decoder, filters, NMS, SAM's postprocess) and
        ``post_s`` (painting, hole fill), and the generator's mask count in ``masks``."""
        import torch

        generator, device = self._generator()
        timing = {} if timing is None else timing
        out: list[np.ndarray] = []
        for start in range(0, len(cameras), self.encoder_batch):
            batch = cameras[start:start + self.encoder_batch]
            tic = time.perf_counter()
            encoded = list(encode_images(generator.predictor.model, [c.image for c in batch]))
            sync(device)
            timing["encoder_s"] = timing.get("encoder_s", 0.0) + time.perf_counter() - tic
            for camera, (features, input_size) in zip(batch, encoded, strict=True):
                tic = time.perf_counter()
                generator.predictor.preset = (features, camera.image.shape[:2], input_size)
                with torch.no_grad():
                    records = generator.generate(camera.image)
                sync(device)
                toc = time.perf_counter()
                segments = paint_masks([r["segmentation"] for r in records],
                                       camera.image.shape[:2])
                out.append(fill_small_holes(segments, self.settings.fill_holes_area))
                timing["decoder_s"] = timing.get("decoder_s", 0.0) + toc - tic
                timing["post_s"] = timing.get("post_s", 0.0) + time.perf_counter() - toc
                timing["masks"] = timing.get("masks", 0.0) + len(records)
        return out


RUNTIME_OPTIONS = {"device": None, "encoder_batch": 6}
"""Options that change speed, not output: settable, not in the manifest."""


def _coerce(key: str, value: Any, default: Any) -> Any:
    """``value`` (a YAML scalar string from ``--sam-set key=value``, or a value) as ``default``'s
    type."""
    if isinstance(value, str) and not isinstance(default, str):
        value = parse_yaml(value)
    expected = type(default) if default is not None else (str, type(None))
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) != isinstance(default, bool) or not isinstance(value, expected):
        kind = "str" if default is None else type(default).__name__
        raise ConfigError(f"--sam-set {key}={value!r}: expected {kind}")
    return value


def make_sam_source(name: str, checkpoint: Path | None, model: str,
                    options: dict[str, Any]) -> SuperpixelSource:
    """``sam`` or ``sam-lidar`` for the CLI: ``--sam-checkpoint``, ``--sam-model``,
    ``--sam-set key=value`` (the settings' field names and ``device``, ``encoder_batch``).

    Checks everything before any work: the model name, the checkpoint file, the option keys
    (unknown ones are listed with the valid ones) and their types. The model itself is built on
    the first image.
    """
    from seal_train.superpixels.sam_lidar import SamLidarSettings, SamLidarSource

    settings_class: type[SamGeneratorSettings] | type[SamLidarSettings]
    if name == "sam":
        settings_class = SamGeneratorSettings
    elif name == "sam-lidar":
        settings_class = SamLidarSettings
    else:
        raise ConfigError(f"make_sam_source: {name!r} is not a SAM source; expected sam or "
                          f"sam-lidar")
    defaults = {f.name: f.default for f in fields(settings_class)} | RUNTIME_OPTIONS
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ConfigError(f"--sam-set {', '.join(unknown)}: unknown for --source {name}; valid: "
                          f"{', '.join(sorted(defaults))}")
    values = {k: _coerce(k, v, defaults[k]) for k, v in options.items()}
    runtime = {k: values.pop(k) for k in RUNTIME_OPTIONS if k in values}
    recipe = SamModel(model, None if checkpoint is None else Path(checkpoint))
    if name == "sam":
        return SamSource(recipe, SamGeneratorSettings(**values), **runtime)
    return SamLidarSource(recipe, SamLidarSettings(**values), **runtime)
