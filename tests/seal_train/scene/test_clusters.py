"""3D clustering: separated blobs become clusters (largest first), stray points noise, the voxel
subsample gives the same partition as clustering every point."""

from __future__ import annotations

import numpy as np
import pytest

from seal_ros.errors import ConfigError
from seal_train.scene import NOISE, cluster_points


def _blobs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A 600-point and a 300-point blob (0.3 m spread) 10 m apart, plus 5 isolated points."""
    big = rng.normal(0.0, 0.3, (600, 3))
    small = rng.normal(0.0, 0.3, (300, 3)) + [10.0, 0.0, 0.0]
    stray = np.array([[5.0, 5.0, 0.0], [-8.0, 3.0, 1.0], [3.0, -9.0, 0.0], [20.0, 20.0, 2.0],
                      [5.0, -5.0, 4.0]])
    xyz = np.concatenate([big, small, stray])
    truth = np.concatenate([np.zeros(600, int), np.ones(300, int), np.full(5, NOISE)])
    order = rng.permutation(len(xyz))
    return xyz[order].astype(np.float32), truth[order]


@pytest.mark.parametrize("voxel_m", [0.0, 0.15])
def test_separates_blobs_largest_first_and_marks_strays_noise(voxel_m: float) -> None:
    xyz, truth = _blobs(np.random.default_rng(0))
    labels = cluster_points(xyz, eps_m=0.7, min_points=3, voxel_m=voxel_m)
    assert labels.dtype == np.int64 and labels.shape == (len(xyz),)
    np.testing.assert_array_equal(labels, truth)  # ids by size: the 600-point blob is 0


def test_min_cluster_points_and_max_clusters_turn_clusters_into_noise() -> None:
    xyz, truth = _blobs(np.random.default_rng(1))
    only_big = cluster_points(xyz, min_cluster_points=301)
    np.testing.assert_array_equal(only_big, np.where(truth == 0, 0, NOISE))
    np.testing.assert_array_equal(cluster_points(xyz, max_clusters=1), only_big)


def test_a_pair_of_close_points_is_noise_unless_min_points_allows_it() -> None:
    xyz = np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 0.0]])
    assert cluster_points(xyz, min_points=3, voxel_m=0, min_cluster_points=1).tolist() == [-1, -1]
    assert cluster_points(xyz, min_points=2, voxel_m=0, min_cluster_points=1).tolist() == [0, 0]


def test_empty_input_and_bad_arguments() -> None:
    assert cluster_points(np.zeros((0, 3))).shape == (0,)
    with pytest.raises(ConfigError, match=r"\(N, 3\)"):
        cluster_points(np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="eps_m > 0"):
        cluster_points(np.zeros((4, 3)), eps_m=0.0)
