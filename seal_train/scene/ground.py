"""Label-free scene estimates: the ground plane and vehicle-like objects.

Robo3D's nuScenes-C scripts find the ground (wet ground, snow) and the vehicles (incomplete echo)
by their ground-truth labels; evaluation must not read labels, so these estimates stand in. The
LiDAR-prompted superpixels (:mod:`seal_train.superpixels.sam_lidar`) and the temporal objective
remove the ground with the same fit before clustering (:mod:`seal_train.scene.clusters`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GROUND_BAND_M = 0.2
"""Points within this distance of the fitted ground plane are ground."""


@dataclass(frozen=True, eq=False)
class GroundPlane:
    """Plane ``normal . p + offset = 0`` in the LiDAR frame; ``normal`` (3,) float64 unit, up."""

    normal: np.ndarray
    offset: float

    def height(self, xyz: np.ndarray) -> np.ndarray:
        """(N,) float64 signed height above the plane in metres."""
        return np.asarray(xyz, np.float64) @ self.normal + self.offset


def fit_ground_plane(xyz: np.ndarray, rng: np.random.Generator, *, hypotheses: int = 128,
                     sample: int = 4096, inlier_m: float = 0.1,
                     max_tilt_deg: float = 15.0) -> GroundPlane | None:
    """The ground as one plane, by vectorised RANSAC on the lower half of the nearby points.

    Robo3D's nuScenes-C scripts select ground by *labels* (driveable surface, other flat, sidewalk);
    its source, Hahner's ``planes.py``, fits a RANSAC plane. Evaluation must not read labels, so
    this follows the RANSAC variant: candidates are points 2..40 m away (horizontally) in the lower
    half of their heights; ``hypotheses`` planes through random triplets (tilted at most
    ``max_tilt_deg``) are scored on up to ``sample`` candidates at once; the best is refined by
    least squares on its inliers. One plane cannot follow hills or road crowning (a limitation
    shared with Hahner's fit). ``None`` when there are too few candidates.
    """
    xyz = np.asarray(xyz, np.float64)
    horizontal = np.hypot(xyz[:, 0], xyz[:, 1])
    near = xyz[(horizontal > 2.0) & (horizontal < 40.0)]
    if len(near) < 50:
        return None
    cand = near[near[:, 2] <= np.median(near[:, 2])]
    pick = rng.choice(len(cand), size=min(sample, len(cand)), replace=False)
    subset = cand[pick]  # (S, 3)
    triplets = subset[rng.integers(0, len(subset), size=(hypotheses, 3))]  # (H, 3, 3)
    normals = np.cross(triplets[:, 1] - triplets[:, 0], triplets[:, 2] - triplets[:, 0])
    length = np.linalg.norm(normals, axis=1)
    ok = length > 1e-9
    normals[ok] /= length[ok, None]
    normals *= np.where(normals[:, 2:3] < 0, -1.0, 1.0)  # point up
    ok &= normals[:, 2] >= np.cos(np.radians(max_tilt_deg))
    if not ok.any():
        return None
    normals, anchors = normals[ok], triplets[ok, 0]
    offsets = -np.einsum("hc,hc->h", normals, anchors)
    score = (np.abs(subset @ normals.T + offsets) < inlier_m).sum(axis=0)  # (H,)
    best = int(np.argmax(score))
    inliers = cand[np.abs(cand @ normals[best] + offsets[best]) < inlier_m]
    if len(inliers) < 3:
        return None
    centre = inliers.mean(axis=0)
    normal = np.linalg.svd(inliers - centre, full_matrices=False)[2][2]  # least-squares normal
    if normal[2] < 0:
        normal = -normal
    return GroundPlane(normal=normal, offset=float(-normal @ centre))


def ground_mask(xyz: np.ndarray, plane: GroundPlane | None,
                band_m: float = GROUND_BAND_M) -> np.ndarray:
    """(N,) bool: within ``band_m`` of the plane (all False without a plane)."""
    if plane is None:
        return np.zeros(len(xyz), dtype=bool)
    return np.abs(plane.height(xyz)) < band_m


def vehicle_like_mask(xyz: np.ndarray, plane: GroundPlane | None, *,
                      cell_m: float = 0.4) -> np.ndarray:
    """(N,) bool: points of compact above-ground objects the size of vehicles (no labels).

    Points more than :data:`GROUND_BAND_M` above the plane are grouped by 8-connected
    occupied cells of a ``cell_m`` bird's-eye grid; a group is vehicle-like when it has > 10
    points, its top is 1.0..4.5 m above ground, and its principal extents (3.5 sigma, i.e. the
    length of a uniform spread) are 1.5..20 m long and at most 4 m wide. Buildings and trees are
    too tall, pedestrians, poles and cones too small.
    """
    from scipy import ndimage

    out = np.zeros(len(xyz), bool)
    if plane is None or not len(xyz):
        return out
    height = plane.height(xyz)
    above = np.flatnonzero(height > GROUND_BAND_M)
    if not len(above):
        return out
    cells = np.floor(xyz[above, :2] / cell_m).astype(np.int64)
    cells -= cells.min(axis=0)
    grid = np.zeros(cells.max(axis=0) + 1, bool)
    grid[cells[:, 0], cells[:, 1]] = True
    labels, count = ndimage.label(grid, structure=np.ones((3, 3), bool))
    group = labels[cells[:, 0], cells[:, 1]]  # (A,) 1..count
    k = count + 1
    size = np.bincount(group, minlength=k).astype(np.float64)
    top = np.full(k, -np.inf)
    np.maximum.at(top, group, height[above])
    x, y = xyz[above, 0].astype(np.float64), xyz[above, 1].astype(np.float64)
    mean = [np.bincount(group, w, k) / np.maximum(size, 1) for w in (x, y)]
    cxx, cyy, cxy = (np.bincount(group, a * b, k) / np.maximum(size, 1) - ma * mb
                     for a, b, ma, mb in ((x, x, mean[0], mean[0]), (y, y, mean[1], mean[1]),
                                          (x, y, mean[0], mean[1])))
    spread = np.sqrt(np.maximum((cxx - cyy) ** 2 / 4 + cxy ** 2, 0.0))
    length = 3.5 * np.sqrt(np.maximum((cxx + cyy) / 2 + spread, 0.0))
    width = 3.5 * np.sqrt(np.maximum((cxx + cyy) / 2 - spread, 0.0))
    good = ((size > 10) & (top >= 1.0) & (top <= 4.5) & (length >= 1.5) & (length <= 20.0)
            & (width <= 4.0))
    good[0] = False
    out[above[good[group]]] = True
    return out
