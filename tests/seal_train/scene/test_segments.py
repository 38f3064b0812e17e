"""Pair segments: registration with the ego poses gives one id per object across both scans,
ground is noise, the sparse HDBSCAN equals scikit-learn's exact one, pairs stay within a
sequence, missing poses are named, and the store resumes, refuses other settings and names
corrupt files; the CLI runs end to end on a tiny synthetic drive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from seal_ros.core.transforms import invert_rigid, make_transform
from seal_ros.errors import ConfigError, DatasetError
from seal_train.scene.clusters import NOISE, rank_clusters
from seal_train.scene.generate_segments import cluster_counts, generate_segments
from seal_train.scene.pairs import (
    SegmentParams,
    cluster_cloud,
    iter_pairs,
    pair_rule_text,
    parse_pair_rule,
    segment_pair,
)
from seal_train.scene.segment_store import SegmentStore
from seal_train.sources.frame import Frame

T_EGO_LIDAR = make_transform((0.0, 0.0, 1.8), (0.0, 0.0, 0.0, 1.0))
BOXES = ((1, (8.0, 4.0, 0.0), (4.0, 2.0, 1.5), 700),  # instance, centre, size, points per scan
         (2, (-6.0, -8.0, 0.0), (1.0, 1.0, 1.8), 250),
         (3, (15.0, -10.0, 0.0), (3.0, 3.0, 3.0), 1000))
GROUND = 0


def _yaw_pose(x: float, y: float, yaw: float) -> np.ndarray:
    T = np.eye(4)
    T[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    T[:2, 3] = x, y
    return T


def _world_points(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A fresh sampling of the world: a flat ground and three boxes standing on it."""
    parts, instances = [rng.uniform([-30, -30, 0], [30, 30, 0], (5000, 3))], [np.zeros(5000)]
    for instance, centre, size, count in BOXES:
        local = rng.uniform(-0.5, 0.5, (count, 3))
        face = rng.integers(0, 3, count)  # push each point onto one face of the unit cube
        local[np.arange(count), face] = np.sign(local[np.arange(count), face]) * 0.5
        local = local * size + [0.0, 0.0, size[2] / 2 + 0.3]  # 0.3 m above ground: no contact
        parts.append(local + centre)
        instances.append(np.full(count, instance))
    return np.concatenate(parts), np.concatenate(instances).astype(np.uint32)


def _frame(frame_id: str, T_world_ego: np.ndarray, seed: int, sequence: str = "seq") -> Frame:
    xyz, instances = _world_points(np.random.default_rng(seed))
    T_lidar_world = invert_rigid(T_world_ego @ T_EGO_LIDAR)
    local = xyz @ T_lidar_world[:3, :3].T + T_lidar_world[:3, 3]
    return Frame(frame_id, sequence, local.astype(np.float32), ("x", "y", "z"), 0, T_EGO_LIDAR,
                 T_world_ego, instances=instances)


@pytest.fixture(scope="module")
def pair() -> tuple[Frame, Frame]:
    """Scan b after the ego drove 2 m and turned 0.3 rad: in LiDAR coordinates the boxes moved."""
    return _frame("seq/0", _yaw_pose(0, 0, 0), 0), _frame("seq/1", _yaw_pose(2, 0.5, 0.3), 1)


@pytest.mark.parametrize("voxel_m", [0.0, 0.1])
def test_one_id_per_object_in_both_scans_and_ground_is_noise(pair, voxel_m: float) -> None:
    a, b = pair
    ids_a, ids_b = segment_pair(a, b, SegmentParams(voxel_m=voxel_m), seed=0)
    assert ids_a.dtype == ids_b.dtype == np.int32
    assert ids_a.shape == (len(a.points),) and ids_b.shape == (len(b.points),)
    assert (ids_a[a.instances == GROUND] == NOISE).all()
    assert (ids_b[b.instances == GROUND] == NOISE).all()
    # ids by size: the 1000-point box is 0, the 700-point box 1, the 250-point box 2; HDBSCAN
    # may call a few sparse border points noise, never another object
    for expected, (instance, *_rest) in zip((1, 2, 0), BOXES, strict=True):
        for ids, frame in ((ids_a, a), (ids_b, b)):
            got = ids[frame.instances == instance]
            assert set(got) <= {expected, NOISE} and (got == expected).mean() > 0.95


def test_without_the_poses_the_objects_would_not_match(pair) -> None:
    """Control: the same scans with scan b's pose replaced by a's are not registered, so the
    boxes (moved in LiDAR coordinates by 2 m and 0.3 rad) get separate ids."""
    a, b = pair
    unregistered = Frame(b.frame_id, b.sequence, b.points, b.channels, 0, T_EGO_LIDAR,
                         a.T_world_ego, instances=b.instances)
    ids_a, ids_b = segment_pair(a, unregistered, SegmentParams(), seed=0)
    far_box = b.instances == 3  # 18 m away: a 0.3 rad turn moves it ~5 m
    assert not set(ids_b[far_box]) & set(ids_a[a.instances == 3])


def test_same_seed_same_ids_and_max_clusters_keeps_the_largest(pair) -> None:
    a, b = pair
    first = segment_pair(a, b, SegmentParams(), seed=7)
    again = segment_pair(a, b, SegmentParams(), seed=7)
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)
    ids_a, _ = segment_pair(a, b, SegmentParams(max_clusters=2), seed=7)
    np.testing.assert_array_equal(ids_a, np.where(first[0] == 2, NOISE, first[0]))


@pytest.mark.parametrize("min_samples", [None, 4])
def test_sparse_graph_equals_exact_hdbscan_when_complete(min_samples: int | None) -> None:
    """With every voxel a neighbour the graph is complete, so the result must be scikit-learn's
    exact HDBSCAN on the same points (ids ranked by size by the same rule). Equal mutual-
    reachability weights (a stray's core distance reaches many points) make the MST's choice among
    tied edges arbitrary, and that can move a border point at a tied merge height; these inputs
    (seed 0) have no such point."""
    from sklearn.cluster import HDBSCAN

    rng = np.random.default_rng(0)
    xyz = np.concatenate([rng.normal(0, 0.4, (150, 3)), rng.normal(0, 0.2, (80, 3)) + [3, 0, 0],
                          rng.normal(0, 0.6, (120, 3)) + [0, 6, 1], rng.uniform(-8, 8, (20, 3))])
    params = SegmentParams(voxel_m=0.0, min_cluster_size=10, min_samples=min_samples,
                           neighbours=len(xyz), max_clusters=0)
    exact = HDBSCAN(min_cluster_size=10, min_samples=min_samples, copy=True).fit_predict(xyz)
    got = cluster_cloud(xyz, params)
    assert got.max() >= 2  # the three blobs at least
    np.testing.assert_array_equal(got, rank_clusters(exact, 0))


def test_rank_clusters_orders_by_size_and_caps() -> None:
    labels = np.array([5, 5, 1, 1, 1, -1, 7, 5, 1])
    np.testing.assert_array_equal(rank_clusters(labels, 0), [1, 1, 0, 0, 0, -1, 2, 1, 0])
    np.testing.assert_array_equal(rank_clusters(labels, 1), [-1, -1, 0, 0, 0, -1, -1, -1, 0])


def test_pair_rules_and_parameters() -> None:
    assert parse_pair_rule("next") == 1 and parse_pair_rule(" N = 3 ") == 3
    assert pair_rule_text(1) == "next" and pair_rule_text(4) == "n=4"
    for bad in ("prev", "n=0", "n=-1", "n=x", "3", ""):
        with pytest.raises(ConfigError, match="'next'.*'n=K'"):
            parse_pair_rule(bad)
    with pytest.raises(ConfigError, match=r"min_cluster_size >= 2 \(got 1\)"):
        SegmentParams(min_cluster_size=1)
    with pytest.raises(ConfigError, match="voxel_m >= 0"):
        SegmentParams(voxel_m=-0.1)
    assert SegmentParams().samples == 20 and SegmentParams(min_samples=5).samples == 5


class _Source:
    """A FrameSource over a list, counting loads."""

    def __init__(self, frames: list[Frame]) -> None:
        self.frames, self.loads = frames, [0] * len(frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Frame:
        self.loads[index] += 1
        return self.frames[index]

    def __iter__(self):
        return iter(self.frames)

    @property
    def frame_ids(self) -> list[str]:
        return [f.frame_id for f in self.frames]


def _drive(sequences: dict[str, list[np.ndarray]]) -> _Source:
    frames: list[Frame] = []
    for name, poses in sequences.items():
        for k, pose in enumerate(poses):
            frames.append(_frame(f"{name}/{k}", pose, len(frames), name))
    return _Source(frames)


def _moving(count: int) -> list[np.ndarray]:
    return [_yaw_pose(1.5 * k, 0, 0.05 * k) for k in range(count)]


@pytest.mark.parametrize(("offset", "expected"), [(1, [0, 1, 3, 4, 5]), (2, [0, 3, 4])])
def test_pairs_stay_in_a_sequence_and_each_frame_loads_once(offset: int, expected: list[int]
                                                           ) -> None:
    source = _drive({"s0": _moving(3), "s1": _moving(4)})
    got = [(t, a.frame_id, b.frame_id) for t, a, b in iter_pairs(source, offset)]
    ids = source.frame_ids
    assert got == [(t, ids[t], ids[t + offset]) for t in expected]
    assert max(source.loads) == 1


def test_a_sequence_without_poses_is_named_and_a_standstill_start_is_not() -> None:
    still = [np.eye(4)] * 3
    source = _drive({"parked": still + _moving(2)[1:], "lost": still})
    with pytest.raises(DatasetError, match="sequence lost: every ego pose"):
        list(iter_pairs(source, 1))
    pairs = [t for t, _, _ in iter_pairs(_drive({"parked": still + _moving(2)[1:]}), 1)]
    assert pairs == [0, 1, 2]  # the standstill pairs wait for the first move, then follow


def test_store_round_trip_with_slashes_and_errors(tmp_path: Path) -> None:
    store = SegmentStore(tmp_path / "seg")
    ids_a, ids_b = np.array([0, -1, 2]), np.array([-1, 0])
    path = store.write("scene-1/000", "scene-1/001", ids_a, ids_b)
    assert path == tmp_path / "seg" / "scene-1" / "000.npz"
    a, b = store.read("scene-1/000", sizes=(3, 2))
    assert a.dtype == b.dtype == np.int32
    np.testing.assert_array_equal(a, ids_a)
    np.testing.assert_array_equal(b, ids_b)
    assert store.stored_partner("scene-1/000") == "scene-1/001"
    with pytest.raises(DatasetError, match=r"\(3, 2\) points; the scans have \(3, 3\)"):
        store.read("scene-1/000", sizes=(3, 3))
    with pytest.raises(DatasetError, match="missing segment file"):
        store.read("scene-1/002")
    with pytest.raises(DatasetError, match="cannot name a file"):
        store.path("../x")
    with pytest.raises(DatasetError, match="integer ids >= -1"):
        store.write("x", "y", np.array([-2]), np.array([0]))


def test_generate_resumes_lists_pairs_and_refuses_other_settings(tmp_path: Path) -> None:
    source = _drive({"s0": _moving(3), "s1": _moving(2)})
    out = tmp_path / "seg"
    first = generate_segments(source, out, SegmentParams(), 1, shard=(1, 2))  # pairs from 1, 3
    assert (first.pairs, first.written, first.already_done) == (2, 2, 0)
    report = generate_segments(source, out, SegmentParams(), 1, workers=2)
    assert (report.pairs, report.written, report.already_done) == (3, 1, 2)
    # frames 2 and 3 were loaded again to see that 2 -> 3 crosses sequences; 4 was not
    assert source.loads == [1, 2, 2, 2, 1]
    store = SegmentStore(out)
    assert store.pairs() == [("s0/0", "s0/1"), ("s0/1", "s0/2"), ("s1/0", "s1/1")]
    assert store.partner("s0/1") == "s0/2" and store.partner("s0/2") is None
    ids_a, ids_b = store.read("s1/0", sizes=(len(source.frames[3].points),
                                              len(source.frames[4].points)))
    expected = segment_pair(source.frames[3], source.frames[4], SegmentParams(), 0)
    np.testing.assert_array_equal(ids_a, expected[0])
    np.testing.assert_array_equal(ids_b, expected[1])
    np.testing.assert_array_equal(cluster_counts(store), [3, 3, 3])
    manifest = yaml.safe_load((out / "manifest.yaml").read_text())
    assert manifest["pair_rule"] == "next" and manifest["parameters"]["max_clusters"] == 50
    with pytest.raises(DatasetError, match="voxel_m=0.1; this run asks for voxel_m=0.2"):
        generate_segments(source, out, SegmentParams(voxel_m=0.2), 1)
    with pytest.raises(DatasetError, match="pair_rule='next'; this run asks for pair_rule='n=2'"):
        generate_segments(source, out, SegmentParams(), 2)
    (out / "s0" / "1.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"s0/1\.npz: corrupt segment file"):
        store.read("s0/1")


def test_cli_end_to_end_on_a_synthetic_drive(tmp_path: Path, capsys) -> None:
    from seal_train.__main__ import main
    from seal_train.engine.synthetic import synthetic_drive

    data = synthetic_drive(1, 3, 0, tmp_path / "cache")
    out = tmp_path / "seg"
    argv = ["segments", "--data", str(data), "--out", str(out), "--workers", "1",
            "--voxel", "0.2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "2 pairs; 2 written, 0 already done" in printed and f"store: {out}" in printed
    store = SegmentStore(out)
    assert len(store.pairs()) == 2 and (cluster_counts(store) > 5).all()
    assert main(argv) == 0
    assert "2 pairs; 0 written, 2 already done" in capsys.readouterr().out
    assert main(argv[:-1] + ["0.3"]) == 1
    assert "voxel_m=0.2; this run asks for voxel_m=0.3" in capsys.readouterr().err
    assert main(["segments", "--data", str(data), "--out", str(out), "--pairs", "prev"]) == 1
    assert "pair rule 'prev'" in capsys.readouterr().err
