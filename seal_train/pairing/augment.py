"""Augmentations that keep point <-> pixel pairs right.

Image augmentations (random-resized crop, horizontal flip) move pixels, so they rewrite the pairs'
(row, col) and drop pairs that leave the crop; point augmentations (rotation about z, flips, cuboid
drop) move points, so pairs, which refer to points by index, stay valid (a dropped point drops its
pairs and the survivors are re-indexed). Every function takes an explicit
``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PairedView:
    """One training view of a frame; arrays are owned (augmentations replace them)."""

    points: np.ndarray  # (N, C) float32, first three columns x, y, z
    images: np.ndarray  # (I, H, W, 3) uint8
    superpixels: np.ndarray  # (I, H, W) uint16, 65535 = no segment
    pair_point: np.ndarray  # (P,) int64
    pair_image: np.ndarray  # (P,) int64
    pair_row: np.ndarray  # (P,) int64
    pair_col: np.ndarray  # (P,) int64
    segments: np.ndarray | None = None  # (N,) int64 LiDAR segment per point, -1 = none
    segment_classes: np.ndarray | None = None  # (I, K) int64 class per superpixel id, -1 unknown

    def keep_pairs(self, keep: np.ndarray) -> None:
        self.pair_point = self.pair_point[keep]
        self.pair_image = self.pair_image[keep]
        self.pair_row = self.pair_row[keep]
        self.pair_col = self.pair_col[keep]


@dataclass
class FramePairView:
    """Frame t (with images) and frame t+n (points only, ``b``; None when t has no partner):
    one sample of the temporal objectives."""

    a: PairedView
    b: PairedView | None


def crop_box(rng: np.random.Generator, height: int, width: int, scale: tuple[float, float],
             ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a random crop with area share in ``scale`` and w/h in ``ratio``
    (torchvision's RandomResizedCrop rule; falls back to the largest centred crop of that ratio)."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        w = int(round(np.sqrt(target * aspect)))
        h = int(round(np.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    aspect = width / height
    if aspect < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif aspect > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(view: PairedView, rng: np.random.Generator, out_hw: tuple[int, int],
                 scale: tuple[float, float] = (0.3, 1.0),
                 ratio: tuple[float, float] = (14 / 9, 17 / 9)) -> PairedView:
    """Crop every image at its own random box and resize to ``out_hw``; pairs follow."""
    I, H, W = view.superpixels.shape
    boxes = [crop_box(rng, H, W, scale, ratio) for _ in range(I)]
    return crop_and_resize(view, boxes, out_hw)


def resize(view: PairedView, out_hw: tuple[int, int]) -> PairedView:
    """Resize whole images to ``out_hw`` (evaluation views); pairs follow."""
    I, H, W = view.superpixels.shape
    return crop_and_resize(view, [(0, 0, H, W)] * I, out_hw)


def crop_and_resize(view: PairedView, boxes: list[tuple[int, int, int, int]],
                    out_hw: tuple[int, int]) -> PairedView:
    """Crop image i to ``boxes[i]`` (top, left, h, w), resize to ``out_hw``; drop pairs outside."""
    import cv2

    out_h, out_w = out_hw
    I = view.superpixels.shape[0]
    images = np.empty((I, out_h, out_w, 3), dtype=np.uint8)
    superpixels = np.empty((I, out_h, out_w), dtype=np.uint16)
    keep = np.zeros(len(view.pair_point), dtype=bool)
    rows = view.pair_row.copy()
    cols = view.pair_col.copy()
    for i, (top, left, h, w) in enumerate(boxes):  # a handful of images per frame
        images[i] = cv2.resize(view.images[i, top:top + h, left:left + w], (out_w, out_h),
                               interpolation=cv2.INTER_LINEAR)
        # Nearest neighbour with centre-aligned sampling, the same rule the pairs follow below.
        src_rows = top + np.minimum(((np.arange(out_h) + 0.5) * h / out_h).astype(np.int64), h - 1)
        src_cols = left + np.minimum(((np.arange(out_w) + 0.5) * w / out_w).astype(np.int64), w - 1)
        superpixels[i] = view.superpixels[i][src_rows[:, None], src_cols[None, :]]
        mine = view.pair_image == i
        r = view.pair_row[mine] - top
        c = view.pair_col[mine] - left
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        # Pixel centres map through the resize: new = floor((old + 0.5) * scale), clamped.
        rows[mine] = np.minimum(((r + 0.5) * out_h / h).astype(np.int64), out_h - 1)
        cols[mine] = np.minimum(((c + 0.5) * out_w / w).astype(np.int64), out_w - 1)
        keep[np.flatnonzero(mine)[inside]] = True
    view.images, view.superpixels = images, superpixels
    view.pair_row, view.pair_col = rows, cols
    view.keep_pairs(keep)
    return view


def hflip_images(view: PairedView, rng: np.random.Generator, p: float = 0.5) -> PairedView:
    """Mirror each image with probability ``p``; paired columns mirror with it."""
    flip = rng.random(view.images.shape[0]) < p
    if flip.any():
        W = view.images.shape[2]
        view.images = view.images.copy()
        view.superpixels = view.superpixels.copy()
        view.images[flip] = view.images[flip][:, :, ::-1]
        view.superpixels[flip] = view.superpixels[flip][:, :, ::-1]
        mirrored = flip[view.pair_image]
        view.pair_col = np.where(mirrored, W - 1 - view.pair_col, view.pair_col)
    return view


def rotation_flip(rng: np.random.Generator, rotate: bool = True, flip_p: float = 0.5
                  ) -> np.ndarray:
    """(3, 3) float64: a rotation about z by U(0, 2 pi) (identity without ``rotate``), then
    flips of x and y each with probability ``flip_p`` (pretraining and fine-tuning share it)."""
    angle = rng.uniform(0.0, 2.0 * np.pi) if rotate else 0.0
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    flips = np.where(rng.random(2) < flip_p, -1.0, 1.0)
    return np.diag([flips[0], flips[1], 1.0]) @ R


def rotate_flip_points(view: PairedView, rng: np.random.Generator, flip_p: float = 0.5
                       ) -> PairedView:
    """Rotate about z by U(0, 2 pi) and flip x and y each with probability ``flip_p``."""
    return transform_points(view, rotation_flip(rng, flip_p=flip_p))


def transform_points(view: PairedView, R: np.ndarray) -> PairedView:
    """Apply the (3, 3) linear map ``R`` to the coordinates (one draw shared by a frame pair)."""
    view.points = view.points.copy()
    view.points[:, :3] = (view.points[:, :3].astype(np.float64) @ R.T).astype(np.float32)
    return view


def drop_cuboid(view: PairedView, rng: np.random.Generator, max_extent: float = 0.2,
                min_pairs_per_image: int = 1024, tries: int = 10) -> PairedView:
    """Remove the points inside a random box of at most ``max_extent`` of the scan's extent per
    axis, if every image keeps at least ``min_pairs_per_image`` pairs (SLidR's DropCuboids)."""
    xyz = view.points[:, :3]
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    before = np.bincount(view.pair_image, minlength=view.images.shape[0])
    for _ in range(tries):
        size = rng.uniform(0.0, max_extent, 3) * (hi - lo)
        center = xyz[rng.integers(len(xyz))]
        inside = np.all(np.abs(xyz - center) < size / 2, axis=1)
        keep_pair = ~inside[view.pair_point]
        after = np.bincount(view.pair_image[keep_pair], minlength=view.images.shape[0])
        if np.all((after >= min_pairs_per_image) | (after == before)):
            new_index = np.cumsum(~inside) - 1
            view.points = view.points[~inside]
            if view.segments is not None:
                view.segments = view.segments[~inside]
            view.keep_pairs(keep_pair)
            view.pair_point = new_index[view.pair_point]
            return view
    return view
