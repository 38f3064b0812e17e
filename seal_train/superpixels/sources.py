"""Where superpixels come from: one small protocol, one class per source.

SLIC (SLidR's defaults), the synthetic drive's oracle instance masks, and those masks cut along
SLIC's superpixels are here; imported masks (:mod:`seal_train.superpixels.imported`), SAM and
LiDAR-prompted SAM (:mod:`seal_train.superpixels.sam`) implement the same protocol and are built
by :func:`make_source` from the settings they need.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from seal_ros.errors import ConfigError, DatasetError
from seal_train.sources.frame import CameraView
from seal_train.superpixels.store import NO_SEGMENT, densify

if TYPE_CHECKING:
    from seal_train.superpixels.imported import ImportedMasksSource


class SuperpixelSource(Protocol):
    """Turns one camera image into a dense uint16 segment map (65535 = no segment)."""

    @property
    def name(self) -> str:
        """The source's name, as in :data:`SOURCES` and the store's manifest."""
        ...

    def parameters(self) -> dict[str, Any]:
        """Everything that changes the output; stored in the manifest."""
        ...

    def segment(self, camera: CameraView) -> np.ndarray:
        """(H, W) uint16 dense ids for ``camera.image``."""
        ...


@runtime_checkable
class ClassifyingSource(Protocol):
    """A source that also knows a semantic class per segment (kept in the store's class table)."""

    def segment_with_classes(self, camera: CameraView) -> tuple[np.ndarray, np.ndarray | None]:
        """(H, W) uint16 dense ids and their (K,) int classes (None: this image has none)."""
        ...


class SkipImage(DatasetError):
    """Raised by a source that has nothing for one image (e.g. ``--skip-missing`` and no mask
    file); :func:`~seal_train.superpixels.generate.generate` counts it and writes nothing."""


def segment_image(source: SuperpixelSource, camera: CameraView
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """``source``'s map of ``camera`` and, from a :class:`ClassifyingSource`, its class table."""
    if isinstance(source, ClassifyingSource):
        return source.segment_with_classes(camera)
    return source.segment(camera), None


@dataclass(frozen=True)
class SlicSource:
    """skimage SLIC on the RGB image; SLidR's defaults (150 segments, compactness 6, sigma 3)."""

    n_segments: int = 150
    compactness: float = 6.0
    sigma: float = 3.0
    name: str = "slic"

    def parameters(self) -> dict[str, Any]:
        params = asdict(self)
        params.pop("name")
        return params

    def segment(self, camera: CameraView) -> np.ndarray:
        from skimage.segmentation import slic

        labels = slic(camera.image, n_segments=self.n_segments, compactness=self.compactness,
                      sigma=self.sigma, start_label=0, channel_axis=-1)
        return densify(labels)


@dataclass(frozen=True)
class OracleSource:
    """The synthetic drive's rendered instance masks: a perfect, class-agnostic segmenter.

    Sky (id 0) is no segment: nothing there can pair with a LiDAR point.
    """

    name: str = "oracle"

    def parameters(self) -> dict[str, Any]:
        return {}

    def segment(self, camera: CameraView) -> np.ndarray:
        if camera.instance_mask is None:
            raise DatasetError(f"camera {camera.name} ({camera.image_id}) has no instance mask; "
                               f"--source oracle needs the synthetic drive (nuScenes or rosbag "
                               f"output)")
        return densify(camera.instance_mask.astype(np.int64), valid=camera.instance_mask > 0)


@dataclass(frozen=True)
class OracleSlicSource:
    """The oracle's instance masks cut along SLIC's superpixels: perfect boundaries at SLIC's
    granularity.

    Against plain SLIC this isolates segment quality from segment count: every segment lies in
    one instance and one SLIC superpixel, so it is no larger than SLIC's and as pure as the
    oracle's. Where the two partitions' boundaries run close the cut leaves slivers (on the
    synthetic drive ~200 segments per image against SLIC's ~110, a third under 50 pixels).
    """

    slic: SlicSource = SlicSource()
    name: str = "oracle-slic"

    def parameters(self) -> dict[str, Any]:
        return {"slic": self.slic.parameters()}

    def segment(self, camera: CameraView) -> np.ndarray:
        instances = OracleSource().segment(camera)
        cut = self.slic.segment(camera).astype(np.int64) * NO_SEGMENT + instances
        return densify(cut, valid=instances != NO_SEGMENT)


SOURCES: dict[str, type] = {"slic": SlicSource, "oracle": OracleSource,
                            "oracle-slic": OracleSlicSource}
"""Sources that need nothing but the frames (``data.superpixel_source`` takes these names)."""

EXTERNAL_SOURCES: dict[str, str] = {
    "masks": "masks a VFM wrote beforehand (--masks DIR --format ...)",
    "sam": "Segment Anything's automatic mask generator (--sam-checkpoint)",
    "sam-lidar": "SAM prompted with the projected LiDAR points (--sam-checkpoint)",
}
"""Sources that need files besides the frames: imported masks or model weights."""

SOURCE_NAMES: tuple[str, ...] = tuple(sorted({*SOURCES, *EXTERNAL_SOURCES}))
"""Every ``--source`` choice."""

SAM_MODELS: tuple[str, ...] = ("vit_h", "vit_l", "vit_b")
"""Segment Anything's model types (``segment_anything.sam_model_registry`` keys)."""


@dataclass(frozen=True)
class SamSettings:
    """What ``sam`` and ``sam-lidar`` need: the weights file, its model type and generator
    options (``SamAutomaticMaskGenerator`` keyword arguments, e.g. ``points_per_side``)."""

    checkpoint: Path | None = None
    model: str = "vit_h"
    options: dict[str, Any] = field(default_factory=dict)


def make_source(name: str, slic: SlicSource = SlicSource(), setting: str = "source", *,
                masks: ImportedMasksSource | None = None, sam: SamSettings | None = None
                ) -> SuperpixelSource:
    """The source called ``name`` (one of :data:`SOURCE_NAMES`).

    ``slic`` sets SLIC's parameters for the sources that use it; ``masks`` is the configured
    import for ``masks``; ``sam`` the settings of ``sam`` / ``sam-lidar``. ``setting`` names where
    ``name`` came from in the error.
    """
    if name not in SOURCE_NAMES:
        raise ConfigError(f"{setting}={name!r}: expected one of {', '.join(SOURCE_NAMES)}")
    if name == "slic":
        return slic
    if name == "oracle-slic":
        return OracleSlicSource(slic)
    if name == "masks":
        if masks is None:
            raise ConfigError(f"{setting}=masks imports masks a VFM wrote: give their folder "
                              f"(--masks DIR) and --format; a pretraining config cannot, so make "
                              f"the store with `seal_train superpixels` and set data.superpixels")
        return masks
    if name in ("sam", "sam-lidar"):
        settings = sam or SamSettings()
        if settings.model not in SAM_MODELS:  # before the SAM module and torch are imported
            raise ConfigError(f"SAM model {settings.model!r}: expected one of "
                              f"{', '.join(SAM_MODELS)}")
        try:  # optional module: the other sources work without it
            from seal_train.superpixels.sam import make_sam_source
        except ImportError as err:
            raise ConfigError(f"{setting}={name}: SAM sources are unavailable ({err})") from err
        return make_sam_source(name, settings.checkpoint, settings.model, dict(settings.options))
    return SOURCES[name]()
