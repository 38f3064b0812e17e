"""Superpoints: the LiDAR side of a superpixel, with an optional depth-discontinuity clean-up.

A point paired with a pixel belongs to that pixel's segment. The camera and the LiDAR sit apart, so
near an object's outline a pixel of the object can pair with a point of the wall behind it
(parallax; the point is hidden from the camera but the projection does not know). Such points sit
far from the depth of the rest of their segment. :class:`SuperpointCleanup` drops them and the
segments left with too few points; its defaults keep every pair, as SLidR and Seal do.

Two shapes, one rule:

* per pair (:func:`pair_superpoints`): what pretraining pools, since a point seen by two cameras
  belongs to one segment in each image; a cleaned pair is removed from the training view;
* per point (:func:`superpoints`): what pictures show and what a point is labelled with, merged
  over cameras with the **first camera** (in ``Frame.cameras`` order) that has a segment there
  winning, so a point is never counted twice (Seal's release lets the later camera overwrite;
  which one wins only changes points in the narrow overlaps).

A superpoint is keyed by (camera, segment), as in Seal's frame-global numbering:
``camera index * CAMERA_STRIDE + segment id``. Nothing is cached on disk: the pairs and the maps
are in memory whenever superpoints are needed, and deriving them is one vectorised pass (a
lexsort) over the pairs, so a cache would only add files that can go stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seal_ros.errors import ConfigError
from seal_train.sources.frame import Frame, Pairs, project
from seal_train.superpixels.store import NO_SEGMENT

__all__ = ["CAMERA_STRIDE", "KEEP_ALL", "NO_SUPERPOINT", "SuperpointCleanup", "clean_superpoints",
           "pair_superpoints", "superpoints"]

NO_SUPERPOINT = -1
CAMERA_STRIDE = NO_SEGMENT + 1
"""Superpoint key = camera index * CAMERA_STRIDE + segment id."""


@dataclass(frozen=True)
class SuperpointCleanup:
    """Which pairs leave their superpoint; the defaults keep all of them."""

    max_depth_gap_m: float = 0.0  # a pair deeper or shallower than its segment's median depth
    # by more than this leaves it (0 = off). Large flat segments (road) span tens of metres:
    # use it with object-sized segments (SAM, instance masks), not with one road segment
    min_points: int = 0  # a segment left with fewer pairs (after the depth test) loses them all

    def __post_init__(self) -> None:
        if not np.isfinite(self.max_depth_gap_m) or self.max_depth_gap_m < 0:
            raise ConfigError(f"superpoint max_depth_gap_m must be a finite number >= 0 "
                              f"(0 = off), got {self.max_depth_gap_m}")
        if self.min_points < 0:
            raise ConfigError(f"superpoint min_points must be >= 0, got {self.min_points}")

    @property
    def active(self) -> bool:
        return self.max_depth_gap_m > 0 or self.min_points > 1


KEEP_ALL = SuperpointCleanup()
"""The default: every pair stays in its superpoint (SLidR, Seal)."""


def clean_superpoints(keys: np.ndarray, depth: np.ndarray, cleanup: SuperpointCleanup
                      ) -> np.ndarray:
    """``keys`` (P,) int64 with the pairs that fail ``cleanup`` set to :data:`NO_SUPERPOINT`.

    ``depth`` (P,) is each pair's depth along its camera's optical axis. Vectorised: pairs sorted
    by (key, depth) once, the median of each key read at the middle of its run.
    """
    keys = np.asarray(keys, dtype=np.int64).copy()
    if not cleanup.active:
        return keys
    if cleanup.max_depth_gap_m > 0:
        valid = np.flatnonzero(keys != NO_SUPERPOINT)
        order = valid[np.lexsort((depth[valid], keys[valid]))]
        _, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
        sorted_depth = depth[order]
        median = (sorted_depth[starts + (counts - 1) // 2] + sorted_depth[starts + counts // 2]) / 2
        gap = np.abs(sorted_depth - np.repeat(median, counts))
        keys[order[gap > cleanup.max_depth_gap_m]] = NO_SUPERPOINT
    if cleanup.min_points > 1:
        valid = keys != NO_SUPERPOINT
        _, inverse, counts = np.unique(keys[valid], return_inverse=True, return_counts=True)
        keys[np.flatnonzero(valid)[counts[inverse] < cleanup.min_points]] = NO_SUPERPOINT
    return keys


def pair_superpoints(pairs: Pairs, maps: Sequence[np.ndarray | None],
                     cleanup: SuperpointCleanup = KEEP_ALL) -> np.ndarray:
    """(P,) int64 superpoint key of every pair (:data:`NO_SUPERPOINT`: no segment at its pixel,
    its camera has no map, or ``cleanup`` removed it).

    ``maps[c]`` is camera c's (H, W) uint16 segment map (:data:`NO_SEGMENT` = none), or None.
    """
    keys = np.full(len(pairs.point_index), NO_SUPERPOINT, dtype=np.int64)
    for cam_index, segments in enumerate(maps):
        if segments is None:
            continue
        mine = np.flatnonzero(pairs.camera_index == cam_index)
        seg = segments[pairs.row[mine], pairs.col[mine]].astype(np.int64)
        has = seg != NO_SEGMENT
        keys[mine[has]] = cam_index * CAMERA_STRIDE + seg[has]
    return clean_superpoints(keys, pairs.depth, cleanup)


def superpoints(frame: Frame, maps: Sequence[np.ndarray | None],
                cleanup: SuperpointCleanup = KEEP_ALL,
                pairs: Pairs | None = None) -> np.ndarray:
    """(N,) int64 superpoint key of each point of ``frame`` (:data:`NO_SUPERPOINT` = none):
    the first camera's surviving pair wins (``pairs``: ``project(frame)`` when not given)."""
    if len(maps) != len(frame.cameras):
        raise ValueError(f"frame {frame.frame_id}: {len(maps)} segment maps for "
                         f"{len(frame.cameras)} cameras")
    pairs = project(frame) if pairs is None else pairs
    keys = pair_superpoints(pairs, maps, cleanup)
    labels = np.full(len(frame.points), NO_SUPERPOINT, dtype=np.int64)
    kept = np.flatnonzero(keys != NO_SUPERPOINT)
    # pairs come camera by camera, so a point's first surviving pair is its first camera's
    points, first = np.unique(pairs.point_index[kept], return_index=True)
    labels[points] = keys[kept[first]]
    return labels
