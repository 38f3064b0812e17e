"""LiDAR segments over a pair of scans: one cluster id names the same object at t and t+n.

Seal's temporal objective (method.md §1.5) contrasts a segment at scan t with the same segment at
its successor t+n. TARL's recipe (``PRBonn/TARL:tarl/utils/pcd_preprocess.py``) gives the
correspondence for free: register both scans into one frame with the ego poses, remove the ground
(RANSAC plane per scan), run HDBSCAN on the aggregated non-ground cloud and keep the largest
clusters, so a cluster spans both scans.

Speed (≤ 1 s a pair at 35k points per scan on 2 cores): scikit-learn's HDBSCAN on coordinates runs
Prim's algorithm over all point pairs (quadratic: 2 s for 22k points). Here the points are first
reduced to one representative per ``voxel_m`` voxel (the packed-key ``unique`` of
:mod:`seal_train.scene.clusters`; every point takes its voxel's id through the inverse), and the
mutual-reachability graph is built sparse, from each voxel's ``neighbours`` nearest voxels with
exact core distances. scikit-learn's HDBSCAN then runs on that graph (``metric="precomputed"``
with ``min_samples=1``, which leaves the given mutual-reachability weights unchanged: a row's
smallest entry never exceeds any of its entries). With ``neighbours`` >= voxels - 1 the graph is
complete and the result is exactly HDBSCAN's; with fewer, parts the graph leaves apart (gaps wider
than every point's ``neighbours``-th neighbour) join only at the graph's longest edge, i.e. are
treated as separate objects.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from seal_ros.core.transforms import invert_rigid
from seal_ros.errors import ConfigError, DatasetError
from seal_train.scene.clusters import NOISE, rank_clusters, voxel_reduce
from seal_train.scene.ground import GROUND_BAND_M, fit_ground_plane, ground_mask
from seal_train.sources.detect import FrameSource
from seal_train.sources.frame import Frame

__all__ = ["SegmentParams", "cluster_cloud", "iter_pairs", "pair_rule_text", "parse_pair_rule",
           "segment_pair"]


@dataclass(frozen=True)
class SegmentParams:
    """How segments are found; every field is recorded in a segment store's manifest.

    Attributes:
        voxel_m: voxel edge in metres of the subsample HDBSCAN runs on; 0 clusters every point.
        min_cluster_size: HDBSCAN ``min_cluster_size``, in voxels (points when ``voxel_m`` is 0);
            TARL uses 20 points.
        min_samples: HDBSCAN ``min_samples`` (core distance = distance to the min_samples-th
            nearest voxel, the voxel itself counted); None = ``min_cluster_size`` (HDBSCAN's
            default, as in TARL).
        neighbours: nearest voxels per voxel in the sparse mutual-reachability graph (see the
            module docstring); ``min_samples`` when that is larger (core distances need them).
        max_clusters: keep the largest clusters (by points), TARL's 50; 0 keeps all.
        ground_band_m: points within this distance of a scan's RANSAC ground plane are ground.
        ground_inlier_m: RANSAC inlier distance of the plane fit.
        ground_hypotheses: RANSAC planes tried per scan.
    """

    voxel_m: float = 0.1
    min_cluster_size: int = 20
    min_samples: int | None = None
    neighbours: int = 16
    max_clusters: int = 50
    ground_band_m: float = GROUND_BAND_M
    ground_inlier_m: float = 0.1
    ground_hypotheses: int = 128

    def __post_init__(self) -> None:
        problems = []
        if not self.voxel_m >= 0:
            problems.append(f"voxel_m >= 0 (got {self.voxel_m})")
        if self.min_cluster_size < 2:
            problems.append(f"min_cluster_size >= 2 (got {self.min_cluster_size})")
        if self.min_samples is not None and self.min_samples < 1:
            problems.append(f"min_samples >= 1 or None (got {self.min_samples})")
        if self.neighbours < 1:
            problems.append(f"neighbours >= 1 (got {self.neighbours})")
        if self.max_clusters < 0:
            problems.append(f"max_clusters >= 0 (got {self.max_clusters})")
        if not (self.ground_band_m >= 0 and self.ground_inlier_m > 0):
            problems.append(f"ground_band_m >= 0 and ground_inlier_m > 0 (got "
                            f"{self.ground_band_m}, {self.ground_inlier_m})")
        if self.ground_hypotheses < 1:
            problems.append(f"ground_hypotheses >= 1 (got {self.ground_hypotheses})")
        if problems:
            raise ConfigError("invalid SegmentParams: need " + "; ".join(problems))

    @property
    def samples(self) -> int:
        """The ``min_samples`` in effect."""
        return self.min_cluster_size if self.min_samples is None else self.min_samples

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a manifest (YAML)."""
        return asdict(self)


_RULE = re.compile(r"n\s*=\s*(\d+)")


def parse_pair_rule(text: str) -> int:
    """The frame offset n of a pair rule: ``next`` (n = 1, Seal's choice) or ``n=K`` (K >= 1)."""
    rule = text.strip().lower()
    if rule == "next":
        return 1
    match = _RULE.fullmatch(rule)
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(f"pair rule {text!r}: expected 'next' (the successor, n=1) or 'n=K' "
                          f"with an integer K >= 1 (scan t pairs with t+K of its sequence)")
    return int(match.group(1))


def pair_rule_text(offset: int) -> str:
    """The canonical rule text of an offset (``next`` for 1), as stores record it."""
    if offset < 1:
        raise ConfigError(f"pair offset {offset}: expected an integer >= 1")
    return "next" if offset == 1 else f"n={offset}"


def _hdbscan_sparse(reps: np.ndarray, params: SegmentParams) -> np.ndarray:
    """(V,) HDBSCAN labels of the representatives on the sparse mutual-reachability graph."""
    from scipy.sparse import coo_matrix, csgraph
    from scipy.spatial import cKDTree
    from sklearn.cluster import HDBSCAN

    V = len(reps)
    k = min(max(params.neighbours + 1, params.samples), V)  # + 1: the point itself comes first
    dist, nbr = cKDTree(reps).query(reps, k=k)  # (V, k), sorted, column 0 = self
    core = dist[:, min(params.samples, k) - 1]  # (V,) min_samples-th neighbour, self counted
    rows = np.repeat(np.arange(V), k - 1)
    cols, d = nbr[:, 1:].reshape(-1), dist[:, 1:].reshape(-1)
    weight = np.maximum(np.maximum(core[rows], core[cols]), d)  # mutual reachability
    graph = coo_matrix((weight, (rows, cols)), shape=(V, V)).tocsr()
    graph = graph.maximum(graph.T).tocsr()  # union of both directions (weights are symmetric)
    count, component = csgraph.connected_components(graph, directed=False)
    if count > 1:  # join the parts in a chain at the longest edge: they stay apart below it
        first = np.unique(component, return_index=True)[1]
        bridge = coo_matrix((np.full(count - 1, weight.max()), (first[:-1], first[1:])),
                            shape=(V, V))
        graph = (graph + bridge + bridge.T).tocsr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = HDBSCAN(min_cluster_size=params.min_cluster_size, min_samples=1,
                        metric="precomputed", copy=False)
        return np.asarray(model.fit_predict(graph), dtype=np.int64)


def cluster_cloud(xyz: np.ndarray, params: SegmentParams) -> np.ndarray:
    """(M,) int64 cluster id per point of an (M, 3) cloud: 0 = largest, NOISE elsewhere."""
    xyz = np.asarray(xyz, dtype=np.float64)
    first, inverse = voxel_reduce(xyz, params.voxel_m)
    if len(first) < max(params.min_cluster_size, 2):
        return np.full(len(xyz), NOISE, dtype=np.int64)
    voxel_labels = _hdbscan_sparse(xyz[first], params)  # (V,)
    return rank_clusters(voxel_labels[inverse], params.max_clusters)


def _non_ground(xyz: np.ndarray, params: SegmentParams, rng: np.random.Generator) -> np.ndarray:
    """(N,) bool: off the scan's own RANSAC ground plane (fitted in its LiDAR frame)."""
    plane = fit_ground_plane(xyz, rng, hypotheses=params.ground_hypotheses,
                             inlier_m=params.ground_inlier_m)
    return ~ground_mask(xyz, plane, params.ground_band_m)


def segment_pair(frame_a: Frame, frame_b: Frame, params: SegmentParams | None = None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Segments of scans a and b clustered together in a's LiDAR frame.

    Returns:
        (N_a,) and (N_b,) int32 ids aligned with ``frame_a.points`` / ``frame_b.points``; the
        same id is the same cluster in both scans; ground and unclustered points are NOISE (-1).
        The same inputs and ``seed`` (it drives the RANSAC ground fits) give the same ids.
    """
    params = params or SegmentParams()
    rng = np.random.default_rng(seed)
    xyz_a = frame_a.xyz.astype(np.float64)
    xyz_b = frame_b.xyz.astype(np.float64)
    keep_a, keep_b = _non_ground(xyz_a, params, rng), _non_ground(xyz_b, params, rng)
    T_a_b = invert_rigid(frame_a.T_world_lidar) @ frame_b.T_world_lidar  # LiDAR b -> LiDAR a
    b_in_a = xyz_b[keep_b] @ T_a_b[:3, :3].T + T_a_b[:3, 3]
    labels = cluster_cloud(np.concatenate([xyz_a[keep_a], b_in_a]), params)
    ids_a = np.full(len(xyz_a), NOISE, dtype=np.int32)
    ids_b = np.full(len(xyz_b), NOISE, dtype=np.int32)
    split = int(keep_a.sum())
    ids_a[keep_a], ids_b[keep_b] = labels[:split], labels[split:]
    return ids_a, ids_b


@dataclass
class _Sequence:
    """Pose bookkeeping of one sequence: has the ego moved yet, and the pairs waiting for it."""

    first_pose: np.ndarray
    moved: bool = False
    waiting: list[int] = field(default_factory=list)  # frame t of pairs with all poses equal
    scans_differ: bool = False


def iter_pairs(frames: FrameSource, offset: int, indices: Iterable[int] | None = None,
               skip: Callable[[int], bool] | None = None) -> Iterator[tuple[int, Frame, Frame]]:
    """``(t, frame t, frame t+offset)`` for every t of ``indices`` (default all) whose partner is
    in the same sequence, in order; ``skip(t)`` True skips t without loading it.

    Frames of a sequence are contiguous and in time order. Each frame is loaded once (cameras
    dropped: segments need only the scan), kept while a later t still needs it. A sequence whose
    ego poses are all identical while its scans differ has no poses (the source filled one in):
    its pairs wait until a pose differs and raise DatasetError when the sequence ends without one
    (the waiting pairs are loaded again once the ego moves: only a sequence that starts at a
    standstill pays that).
    """
    cache: dict[int, Frame] = {}
    sequences: dict[str, _Sequence] = {}
    current: str | None = None

    def load(index: int) -> Frame:
        if index not in cache:
            cache[index] = replace(frames[index], cameras=())
        return cache[index]

    def release(name: str, state: _Sequence) -> Iterator[tuple[int, Frame, Frame]]:
        if state.waiting and not state.moved and state.scans_differ:
            raise DatasetError(
                f"sequence {name}: every ego pose (T_world_ego) is identical while the scans "
                f"differ; the source has no ego poses, and segments need them to register scan "
                f"t+{offset} onto scan t")
        waiting, state.waiting = state.waiting, []
        for t in waiting:
            yield t, load(t), load(t + offset)

    for t in range(len(frames)) if indices is None else indices:
        for index in [i for i in cache if i < t]:
            del cache[index]
        if t + offset >= len(frames) or (skip is not None and skip(t)):
            continue
        a, b = load(t), load(t + offset)
        if a.sequence != current:
            if current is not None and current in sequences:
                yield from release(current, sequences.pop(current))
            current = a.sequence
        if b.sequence != a.sequence:
            continue
        state = sequences.setdefault(a.sequence, _Sequence(a.T_world_ego))
        if state.moved:
            yield t, a, b
            continue
        if not (np.array_equal(a.T_world_ego, state.first_pose)
                and np.array_equal(b.T_world_ego, state.first_pose)):
            state.moved = True
            yield from release(a.sequence, state)
            yield t, a, b
            continue
        state.waiting.append(t)
        state.scans_differ |= not np.array_equal(a.points, b.points)
    for name, state in sequences.items():
        yield from release(name, state)
