"""Where superpixels come from: one small protocol, one class per source.

SLIC (SLidR's defaults), the synthetic drive's oracle instance masks, and those masks cut along
SLIC's superpixels are here; SAM, LiDAR-prompted SAM and imported masks implement the same
protocol.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from seal_ros.errors import ConfigError, DatasetError
from seal_train.sources.frame import CameraView
from seal_train.superpixels.store import NO_SEGMENT, densify


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
"""CLI choices: ``--source`` name -> source class."""


def make_source(name: str, slic: SlicSource = SlicSource(), setting: str = "source"
                ) -> SuperpixelSource:
    """The source called ``name`` (a key of :data:`SOURCES`); ``slic`` sets SLIC's parameters
    for the sources that use it; ``setting`` names where ``name`` came from in the error."""
    if name not in SOURCES:
        raise ConfigError(f"{setting}={name!r}: expected one of {', '.join(sorted(SOURCES))}")
    if name == "slic":
        return slic
    if name == "oracle-slic":
        return OracleSlicSource(slic)
    return SOURCES[name]()
