"""Pretraining samples: a Frame, its cached superpixels and its point <-> pixel pairs, augmented.

Pairs are computed once per frame in the sensor frame (DESIGN.md: depth > 1 m, inside the image,
both pairs kept for points seen by two cameras), then augmentations move images and points while
keeping the pairs right. Randomness comes from (seed, epoch, index), so a resumed run sees exactly
the samples an uninterrupted run would.

For Seal's temporal objectives a sample is a frame pair (t, t+n) from a LiDAR segment store:
frame t as above, frame t+n as points only, both rotated and flipped by the same draw, each
point carrying its segment id (one id = one object in both scans). The last frames of a sequence,
which have no successor, pair with their predecessor instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from seal_ros.errors import ConfigError, DatasetError
from seal_train.pairing.augment import (
    FramePairView,
    PairedView,
    drop_cuboid,
    hflip_images,
    resize,
    resized_crop,
    rotation_flip,
    transform_points,
)
from seal_train.sources.detect import FrameSource
from seal_train.sources.frame import Frame, project
from seal_train.superpixels.store import CLASSES_SUFFIX, NO_SEGMENT, SuperpixelStore
from seal_train.superpixels.superpoints import (
    KEEP_ALL,
    NO_SUPERPOINT,
    SuperpointCleanup,
    pair_superpoints,
)

if TYPE_CHECKING:
    from seal_train.scene.segment_store import SegmentStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairingConfig:
    """How training views are made (SLidR's values where they exist)."""

    image_height: int = 224  # crop output size, pixels
    image_width: int = 416
    crop_scale: tuple[float, float] = (0.3, 1.0)  # share of the image area kept by the crop
    crop_ratio: tuple[float, float] = (14 / 9, 17 / 9)  # crop width / height
    hflip_p: float = 0.5  # probability of mirroring each image
    rotate_flip: bool = True  # rotation about z in [0, 2 pi) and x / y flips (p = 0.5 each)
    cuboid_drop: bool = True  # SLidR's DropCuboids
    cuboid_max_extent: float = 0.2  # largest dropped box, share of the scan extent per axis
    min_pairs_per_image: int = 1024  # a cuboid drop may not leave an image with fewer pairs
    point_features: tuple[str, ...] = ("intensity",)  # point channels fed to the network
    superpoints: SuperpointCleanup = field(default_factory=SuperpointCleanup)  # pairs that leave
    # their superpoint (depth discontinuities, tiny segments); the defaults keep every pair


def scan_points(frame: Frame, features: tuple[str, ...]) -> np.ndarray:
    """(N, 3 + F) float32: x, y, z and the named point channels, the network's input."""
    columns = [frame.xyz] + [frame.channel(name)[:, None] for name in features]
    return np.concatenate(columns, axis=1).astype(np.float32)


def class_tables(frame: Frame, store: SuperpixelStore) -> np.ndarray | None:
    """(I, K) int64 class of each superpixel id per image (-1 unknown), None without tables."""
    tables = [store.segment_classes(cam.image_id) for cam in frame.cameras]
    if all(t is None for t in tables):
        return None
    width = max(len(t) for t in tables if t is not None)
    out = np.full((len(tables), width), -1, np.int64)
    for i, table in enumerate(tables):
        if table is not None:
            out[i, :len(table)] = table
    return out


def frame_view(frame: Frame, store: SuperpixelStore, features: tuple[str, ...],
               cleanup: SuperpointCleanup = KEEP_ALL, with_classes: bool = False) -> PairedView:
    """The un-augmented view: points (x, y, z, features...), images, superpixels and pairs;
    the pairs ``cleanup`` takes out of their superpoint are removed (pairs on no segment stay:
    the loss ignores them, and the cuboid drop counts them). ``with_classes`` reads the store's
    class tables too."""
    if not frame.cameras:
        raise DatasetError(f"frame {frame.frame_id} (sequence {frame.sequence}) has no camera "
                           f"images; pretraining pairs LiDAR points with camera superpixels")
    pairs = project(frame)
    images = np.stack([cam.image for cam in frame.cameras])
    superpixels = np.stack([store.read(cam.image_id, shape=(cam.height, cam.width))
                            for cam in frame.cameras])
    view = PairedView(scan_points(frame, features), images, superpixels, pairs.point_index,
                      pairs.camera_index, pairs.row, pairs.col)
    if with_classes:
        view.segment_classes = class_tables(frame, store)
    if cleanup.active:
        keys = pair_superpoints(pairs, list(superpixels), cleanup)
        on_segment = superpixels[pairs.camera_index, pairs.row, pairs.col] != NO_SEGMENT
        view.keep_pairs(~on_segment | (keys != NO_SUPERPOINT))
    return view


class PretrainDataset:
    """Map-style dataset of augmented :class:`PairedView` (a torch ``Dataset`` by protocol)."""

    def __init__(self, frames: FrameSource, store: SuperpixelStore, config: PairingConfig,
                 seed: int = 0, augment: bool = True, *, segments: SegmentStore | None = None,
                 with_classes: bool = False) -> None:
        """``segments``: yield :class:`FramePairView` samples from this LiDAR segment store;
        ``with_classes``: views carry the superpixel store's class tables."""
        self.frames = frames
        self.store = store
        self.config = config
        self.seed = seed
        self.augment = augment
        self.with_classes = with_classes
        self.segments = segments
        self.epoch = 0
        self._index = {frame_id: i for i, frame_id in enumerate(frames.frame_ids)}
        self._pairs: dict[str, tuple[str, str, bool]] = {}  # frame -> (key, other, reversed)
        if segments is not None:
            self._pairs = self._pair_table(segments)
        if with_classes and len(frames) and class_tables(frames[0], store) is None:
            raise ConfigError(f"objective.class_aware_negatives needs superpixels with class "
                              f"tables (<image_id>{CLASSES_SUFFIX}: imported semantic or panoptic "
                              f"masks); {store.root} has none for frame {frames.frame_ids[0]}")

    def _pair_table(self, segments: SegmentStore) -> dict[str, tuple[str, str, bool]]:
        """Each frame of this split -> its stored pair: its own (t, successor) or, for frames
        without a successor, the pair whose partner it is. Frames without either are counted."""
        table: dict[str, tuple[str, str, bool]] = {}
        outside = 0
        for a, b in segments.pairs():
            if a in self._index and b in self._index:
                table[a] = (a, b, False)
            elif a in self._index or b in self._index:
                outside += 1
        for a, b in segments.pairs():
            if b in self._index and b not in table and a in self._index:
                table[b] = (a, a, True)
        alone = len(self._index) - len(table)
        if alone or outside:
            log.warning("segment store %s: %d of %d frames have no frame pair in this split "
                        "(%d pairs reach outside it); they train on the spatial loss only",
                        segments.root, alone, len(self._index), outside)
        if not table:
            raise DatasetError(f"segment store {segments.root}: none of its {len(segments.pairs())}"
                               f" frame pairs lies in this split ({len(self._index)} frames); "
                               f"make the store from the same data and split")
        return table

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.frames)

    def _partner(self, frame: Frame, view: PairedView, out_hw: tuple[int, int]
                 ) -> PairedView | None:
        """Frame t+n of ``frame``'s pair as a points-only view; both views get segment ids."""
        assert self.segments is not None
        pair = self._pairs.get(frame.frame_id)
        if pair is None:
            return None
        key, other_id, reverse = pair
        ids_a, ids_b = self.segments.read(key)
        own, theirs = (ids_b, ids_a) if reverse else (ids_a, ids_b)
        other = self.frames[self._index[other_id]]
        for name, ids, scan in ((frame.frame_id, own, frame), (other_id, theirs, other)):
            if len(ids) != len(scan.points):
                raise DatasetError(f"segment store {self.segments.root}: pair {key} holds "
                                   f"{len(ids)} ids for frame {name}, which has "
                                   f"{len(scan.points)} points; remake the store")
        view.segments = own.astype(np.int64)
        H, W = out_hw
        empty = np.zeros(0, np.int64)
        return PairedView(scan_points(other, self.config.point_features),
                          np.zeros((0, H, W, 3), np.uint8), np.zeros((0, H, W), np.uint16),
                          empty, empty, empty, empty, segments=theirs.astype(np.int64))

    def __getitem__(self, index: int) -> PairedView | FramePairView:
        cfg = self.config
        frame = self.frames[index]
        view = frame_view(frame, self.store, cfg.point_features, cfg.superpoints,
                          self.with_classes)
        out_hw = (cfg.image_height, cfg.image_width)
        partner = self._partner(frame, view, out_hw) if self.segments is not None else None
        rng = np.random.default_rng((self.seed, self.epoch, index))
        if not self.augment:
            view = resize(view, out_hw)
        else:
            view = resized_crop(view, rng, out_hw, cfg.crop_scale, cfg.crop_ratio)
            if cfg.hflip_p > 0:
                view = hflip_images(view, rng, cfg.hflip_p)
            if cfg.rotate_flip:
                R = rotation_flip(rng)  # one draw for both frames of a pair
                view = transform_points(view, R)
                partner = transform_points(partner, R) if partner is not None else None
            if cfg.cuboid_drop:
                view = drop_cuboid(view, rng, cfg.cuboid_max_extent, cfg.min_pairs_per_image)
        return view if self.segments is None else FramePairView(view, partner)
