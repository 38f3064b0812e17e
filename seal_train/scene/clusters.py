"""Label-free objects in a scan: 3D clusters of the above-ground points.

Seal's temporal objective and the LiDAR-prompted superpixels both need "segments" found from the
LiDAR alone: remove the ground (:mod:`seal_train.scene.ground`), then group what stands on it by
density. Seal's constants were not released; the closest public recipe, TARL
(``PRBonn/TARL:tarl/utils/pcd_preprocess.py``), fits a RANSAC plane, runs HDBSCAN on the rest and
keeps the 50 largest clusters. Here DBSCAN (``sklearn.cluster.DBSCAN``) with an explicit radius
stands in for HDBSCAN: on one scan its metre-valued ``eps_m`` is easier to reason about than a
learned density, and ``max_clusters`` gives TARL's cap.

Speed: a nuScenes sweep has ~35k points and DBSCAN's cost grows with the neighbours per point, so
points are first reduced to one representative per ``voxel_m`` voxel (the packed-key ``unique``
of Pointcept's ``GridSample``, ``pointcept/datasets/transform.py``); the voxels are clustered and
every point takes its voxel's cluster through the ``unique`` inverse: exact propagation, no
nearest-neighbour search.
"""

from __future__ import annotations

import numpy as np

from seal_ros.errors import ConfigError

__all__ = ["NOISE", "cluster_points", "rank_clusters", "voxel_reduce"]

NOISE = -1
"""Cluster id of points in no cluster."""


def voxel_reduce(xyz: np.ndarray, voxel_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(V,) row of one representative point per ``voxel_m`` voxel and the (N,) voxel of every
    point (the identity for ``voxel_m`` 0), so clusters of voxels propagate exactly to points."""
    if voxel_m == 0:
        return np.arange(len(xyz)), np.arange(len(xyz))
    vox = np.floor(xyz / voxel_m).astype(np.int64)
    vox -= vox.min(axis=0)
    extent = vox.max(axis=0) + 1  # (3,)
    key = (vox[:, 0] * extent[1] + vox[:, 1]) * extent[2] + vox[:, 2]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def rank_clusters(labels: np.ndarray, max_clusters: int = 0, min_size: int = 1) -> np.ndarray:
    """Relabel clusters 0..C-1 by decreasing size (ties: lower old id first), keeping clusters
    of at least ``min_size`` points, at most the ``max_clusters`` largest (0 = all); the rest and
    negative labels become NOISE."""
    out = np.full(len(labels), NOISE, dtype=np.int64)
    clustered = labels >= 0
    if not clustered.any():
        return out
    sizes = np.bincount(labels[clustered])
    order = np.argsort(-sizes, kind="stable")
    order = order[sizes[order] >= max(min_size, 1)]
    if max_clusters:
        order = order[:max_clusters]
    rank = np.full(len(sizes), NOISE, dtype=np.int64)
    rank[order] = np.arange(len(order))
    out[clustered] = rank[labels[clustered]]
    return out


def cluster_points(xyz: np.ndarray, *, eps_m: float = 0.7, min_points: int = 3,
                   voxel_m: float = 0.15, min_cluster_points: int = 10,
                   max_clusters: int = 0) -> np.ndarray:
    """DBSCAN clusters of points, ids 0..C-1 by decreasing size, :data:`NOISE` (-1) elsewhere.

    Args:
        xyz: (N, 3) points in metres (any float dtype), usually the non-ground points of a scan.
        eps_m: DBSCAN radius in metres: two voxels closer than this are neighbours. LiDAR rings
            spread with range (0.5 m apart at 20 m for a 32-beam sensor), so the radius must
            bridge a ring gap on an object; two objects closer than it merge.
        min_points: DBSCAN ``min_samples``, counted in voxels (the voxel itself included): a
            core voxel needs this many voxels within ``eps_m``. 1 makes every voxel a core.
        voxel_m: voxel edge in metres for the subsample; 0 clusters every point.
        min_cluster_points: clusters with fewer *points* than this become noise, so that a few
            stray returns never make a segment.
        max_clusters: keep only this many largest clusters (the rest become noise); 0 keeps all.

    Returns:
        (N,) int64 cluster id per point: 0 is the largest cluster; -1 = noise.

    Raises:
        ConfigError: a parameter out of range, or ``xyz`` not (N, 3).
    """
    from sklearn.cluster import DBSCAN

    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ConfigError(f"cluster_points takes (N, 3) points, got {xyz.shape}")
    if eps_m <= 0 or min_points < 1 or voxel_m < 0 or min_cluster_points < 1 or max_clusters < 0:
        raise ConfigError(f"cluster_points: expected eps_m > 0, min_points >= 1, voxel_m >= 0, "
                          f"min_cluster_points >= 1, max_clusters >= 0; got {eps_m}, "
                          f"{min_points}, {voxel_m}, {min_cluster_points}, {max_clusters}")
    if len(xyz) == 0:
        return np.full(0, NOISE, dtype=np.int64)
    first, inverse = voxel_reduce(xyz, voxel_m)
    voxel_labels = DBSCAN(eps=eps_m, min_samples=min_points).fit_predict(xyz[first])  # (V,)
    return rank_clusters(voxel_labels[inverse], max_clusters, min_cluster_points)
