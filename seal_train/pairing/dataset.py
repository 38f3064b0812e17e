"""Pretraining samples: a Frame, its cached superpixels and its point <-> pixel pairs, augmented.

Pairs are computed once per frame in the sensor frame (DESIGN.md: depth > 1 m, inside the image,
both pairs kept for points seen by two cameras), then augmentations move images and points while
keeping the pairs right. Randomness comes from (seed, epoch, index), so a resumed run sees exactly
the samples an uninterrupted run would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seal_train.pairing.augment import (
    PairedView,
    drop_cuboid,
    hflip_images,
    resize,
    resized_crop,
    rotate_flip_points,
)
from seal_train.sources.detect import FrameSource
from seal_train.sources.frame import Frame, project
from seal_train.superpixels.store import NO_SEGMENT, SuperpixelStore
from seal_train.superpixels.superpoints import (
    KEEP_ALL,
    NO_SUPERPOINT,
    SuperpointCleanup,
    pair_superpoints,
)


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


def frame_view(frame: Frame, store: SuperpixelStore, features: tuple[str, ...],
               cleanup: SuperpointCleanup = KEEP_ALL) -> PairedView:
    """The un-augmented view: points (x, y, z, features...), images, superpixels and pairs;
    the pairs ``cleanup`` takes out of their superpoint are removed (pairs on no segment stay:
    the loss ignores them, and the cuboid drop counts them)."""
    pairs = project(frame)
    columns = [frame.xyz] + [frame.channel(name)[:, None] for name in features]
    points = np.concatenate(columns, axis=1).astype(np.float32)
    images = np.stack([cam.image for cam in frame.cameras])
    superpixels = np.stack([store.read(cam.image_id, shape=(cam.height, cam.width))
                            for cam in frame.cameras])
    view = PairedView(points, images, superpixels, pairs.point_index, pairs.camera_index,
                      pairs.row, pairs.col)
    if cleanup.active:
        keys = pair_superpoints(pairs, list(superpixels), cleanup)
        on_segment = superpixels[pairs.camera_index, pairs.row, pairs.col] != NO_SEGMENT
        view.keep_pairs(~on_segment | (keys != NO_SUPERPOINT))
    return view


class PretrainDataset:
    """Map-style dataset of augmented :class:`PairedView` (a torch ``Dataset`` by protocol)."""

    def __init__(self, frames: FrameSource, store: SuperpixelStore, config: PairingConfig,
                 seed: int = 0, augment: bool = True) -> None:
        self.frames = frames
        self.store = store
        self.config = config
        self.seed = seed
        self.augment = augment
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> PairedView:
        cfg = self.config
        view = frame_view(self.frames[index], self.store, cfg.point_features, cfg.superpoints)
        rng = np.random.default_rng((self.seed, self.epoch, index))
        out_hw = (cfg.image_height, cfg.image_width)
        if not self.augment:
            return resize(view, out_hw)
        view = resized_crop(view, rng, out_hw, cfg.crop_scale, cfg.crop_ratio)
        if cfg.hflip_p > 0:
            view = hflip_images(view, rng, cfg.hflip_p)
        if cfg.rotate_flip:
            view = rotate_flip_points(view, rng)
        if cfg.cuboid_drop:
            view = drop_cuboid(view, rng, cfg.cuboid_max_extent, cfg.min_pairs_per_image)
        return view
