"""Frame-pair samples: frame t with images, its successor as points, one rotation for both, and
segment ids that stay on their points through every augmentation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from seal_ros.errors import ConfigError, DatasetError
from seal_train.engine.synthetic import synthetic_drive
from seal_train.pairing.augment import FramePairView
from seal_train.pairing.dataset import PairingConfig, PretrainDataset
from seal_train.scene.pairs import SegmentParams
from seal_train.scene.segment_store import SegmentStore, ensure_segments
from seal_train.sources.detect import open_source
from seal_train.superpixels.store import SuperpixelStore

CONFIG = PairingConfig(image_height=112, image_width=208, min_pairs_per_image=64)


@pytest.fixture(scope="module")
def drive(cache):
    path = synthetic_drive(1, 4, 0, cache)
    frames = open_source(path)
    segments = ensure_segments(frames, path.parent / "segments-n1", SegmentParams(), 1)
    return frames, SuperpixelStore(path.parent / "superpixels-slic"), segments


def test_every_frame_gets_a_partner_and_the_last_one_its_predecessor(drive):
    frames, store, segments = drive
    dataset = PretrainDataset(frames, store, CONFIG, augment=False, segments=segments)
    ids = frames.frame_ids
    assert segments.pairs() == [(ids[0], ids[1]), (ids[1], ids[2]), (ids[2], ids[3])]
    for index in range(4):
        sample = dataset[index]
        assert isinstance(sample, FramePairView) and sample.b is not None
        own, other = (index, index + 1) if index < 3 else (3, 2)
        stored_a, stored_b = segments.read(ids[min(own, other)])
        expected_own = stored_a if own < other else stored_b
        np.testing.assert_array_equal(sample.a.segments, expected_own)
        np.testing.assert_allclose(sample.b.points[:, :3], frames[other].xyz, atol=1e-6)
        assert sample.b.images.shape == (0, 112, 208, 3) and len(sample.b.pair_point) == 0
        assert (sample.a.segments >= 0).mean() > 0.2  # objects found, shared ids in both scans
        shared = np.intersect1d(sample.a.segments[sample.a.segments >= 0], sample.b.segments)
        assert len(shared) >= 10


def test_both_frames_turn_by_the_same_draw_and_ids_follow_the_cuboid_drop(drive):
    frames, store, segments = drive
    dataset = PretrainDataset(frames, store, replace(CONFIG, cuboid_drop=False), seed=3,
                              segments=segments)
    sample = dataset[1]
    R, *_ = np.linalg.lstsq(frames[1].xyz.astype(np.float64),
                            sample.a.points[:, :3].astype(np.float64), rcond=None)
    np.testing.assert_allclose(frames[2].xyz @ R, sample.b.points[:, :3], atol=1e-3)
    assert not np.allclose(R, np.eye(3), atol=1e-2)  # it did turn

    wide = replace(CONFIG, cuboid_max_extent=0.6)
    dropped = PretrainDataset(frames, store, wide, seed=3, segments=segments)[1].a
    full = PretrainDataset(frames, store, replace(wide, cuboid_drop=False), seed=3,
                           segments=segments)[1].a
    keep = np.isin(_rows(full.points), _rows(dropped.points))
    assert 0 < len(dropped.points) == keep.sum() < len(full.points)  # the drop removed points
    np.testing.assert_array_equal(dropped.segments, full.segments[keep])


def _rows(points: np.ndarray) -> np.ndarray:
    """Each row as one opaque value, so whole points can be matched with ``np.isin``."""
    points = np.ascontiguousarray(points)
    return points.view(np.dtype((np.void, points.dtype.itemsize * points.shape[1]))).ravel()


def test_a_store_of_other_data_and_a_store_without_classes_are_refused(drive, tmp_path):
    frames, store, segments = drive
    other = SegmentStore(tmp_path / "other")
    other.root.mkdir()
    (other.root / "manifest.yaml").write_text(segments.root.joinpath("manifest.yaml").read_text()
                                              .replace(frames.frame_ids[0], "elsewhere/0")
                                              .replace(frames.frame_ids[1], "elsewhere/1")
                                              .replace(frames.frame_ids[2], "elsewhere/2")
                                              .replace(frames.frame_ids[3], "elsewhere/3"))
    with pytest.raises(DatasetError, match="none of its 3 frame pairs lies in this split"):
        PretrainDataset(frames, store, CONFIG, segments=other)
    with pytest.raises(ConfigError, match="class_aware_negatives needs superpixels with class"):
        PretrainDataset(frames, store, CONFIG, with_classes=True)
