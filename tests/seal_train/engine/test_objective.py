"""Seal's objective: frame-pair batches keep frame t first, each term sees the right points, the
weights add up, and every term reaches the logs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seal_ros.errors import ConfigError
from seal_train.engine.objective import (
    DistillOutputs,
    ObjectiveConfig,
    SealObjective,
    SegmentWeighting,
)
from seal_train.losses import point_to_segment_infonce, superpixel_infonce, temporal_infonce
from seal_train.models import ModelConfig, build_grid
from seal_train.pairing.augment import FramePairView, PairedView
from seal_train.pairing.collate import PretrainCollate

H, W = 6, 8


def _view(rng: np.random.Generator, n: int, images: int, classes: bool = False) -> PairedView:
    points = np.concatenate([rng.uniform(-20, 20, (n, 3)), rng.uniform(0, 1, (n, 1))], axis=1)
    superpixels = rng.integers(0, 5, (images, H, W)).astype(np.uint16)
    p = 3 * n if images else 0
    view = PairedView(points.astype(np.float32), np.zeros((images, H, W, 3), np.uint8),
                      superpixels, rng.integers(0, n, p), rng.integers(0, max(images, 1), p),
                      rng.integers(0, H, p), rng.integers(0, W, p),
                      segments=rng.integers(-1, 4, n))
    if classes:
        view.segment_classes = rng.integers(-1, 2, (images, 3))  # ids 3 and 4: unknown
    return view


@pytest.fixture
def samples() -> list[FramePairView]:
    rng = np.random.default_rng(0)
    return [FramePairView(_view(rng, 30, 2, classes=True), _view(rng, 25, 0)),
            FramePairView(_view(rng, 20, 2), None),  # a frame without a partner
            FramePairView(_view(rng, 28, 2, classes=True), _view(rng, 22, 0))]


def test_pair_batches_put_frame_t_first_and_name_each_scans_sample(samples):
    batch = PretrainCollate(build_grid(ModelConfig()))(samples)
    assert batch.images.shape[0] == 6  # frame t's images only
    assert batch.scan_sample.tolist() == [0, 1, 2, 0, 2]
    assert batch.scan_is_partner.tolist() == [False, False, False, True, True]
    assert batch.point_scan.tolist() == sum(([s] * n for s, n in
                                             enumerate([30, 20, 28, 25, 22])), [])
    expected = np.concatenate([samples[0].a.segments, samples[1].a.segments,
                               samples[2].a.segments, samples[0].b.segments,
                               samples[2].b.segments])
    np.testing.assert_array_equal(batch.point_segments.numpy(), expected)
    assert batch.pair_point.max() < 78  # pairs stay on frame t's scans, offsets unchanged
    assert batch.segment_classes.shape == (6, 5)
    np.testing.assert_array_equal(batch.segment_classes[:2, :3].numpy(),
                                  samples[0].a.segment_classes)
    assert (batch.segment_classes[2:4] == -1).all() and (batch.segment_classes[:, 3:] == -1).all()


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0), (0.5, 2.0, 0.0), (0.0, 0.0, 3.0)])
def test_loss_is_the_weighted_sum_of_terms_on_the_right_points(samples, weights):
    batch = PretrainCollate(build_grid(ModelConfig()))(samples)
    g = torch.Generator().manual_seed(1)
    points = F.normalize(torch.randn(125, 16, generator=g), dim=1)
    pixels = F.normalize(torch.randn(6, 16, H, W, generator=g), dim=1)
    cfg = ObjectiveConfig(*weights, weighting=SegmentWeighting.POINTS,
                          class_aware_negatives=True, p2s_max_points=10_000)
    outputs = DistillOutputs(points, pixels)
    loss = SealObjective(cfg, 0.07).loss(outputs, batch)

    # the same terms from explicit row ranges: frame t rows 0..77, partners 78..124
    seg = batch.point_segments
    a_rows = torch.cat([torch.arange(0, 30), torch.arange(50, 78)])  # samples 0 and 2 at t
    b_rows = torch.arange(78, 125)
    sample_a = torch.tensor([0] * 30 + [2] * 28)
    sample_b = torch.tensor([0] * 25 + [2] * 22)
    spatial = superpixel_infonce(points, pixels, batch.superpixels, batch.pair_point,
                                 batch.pair_image, batch.pair_row, batch.pair_col, 0.07,
                                 weighting="points", segment_classes=batch.segment_classes)
    temporal = temporal_infonce(points[a_rows], seg[a_rows], points[b_rows], seg[b_rows],
                                sample_a=sample_a, sample_b=sample_b).loss
    scans = torch.repeat_interleave(torch.arange(5), torch.tensor([30, 20, 28, 25, 22]))
    p2s = point_to_segment_infonce(points, seg, scans)
    expected = weights[0] * spatial + weights[1] * temporal + weights[2] * p2s
    assert torch.allclose(loss, expected, atol=1e-5)
    names = ("spatial", "temporal", "point_to_segment")
    logged = sorted(f"loss/{n}" for n, w in zip(names, weights, strict=True) if w > 0)
    scalars = SealObjective.scalars(outputs)
    assert sorted(k for k in scalars if k.startswith("loss/")) == logged
    assert "mean cosine" in SealObjective.describe(scalars)
    if weights[1]:
        assert scalars["loss/temporal"] == pytest.approx(float(temporal))


def test_spatial_only_is_slidrs_loss_exactly(samples):
    views = [replace(s.a, segments=None, segment_classes=None) for s in samples]
    batch = PretrainCollate(build_grid(ModelConfig()))(views)
    g = torch.Generator().manual_seed(2)
    points = F.normalize(torch.randn(78, 16, generator=g), dim=1)
    pixels = F.normalize(torch.randn(6, 16, H, W, generator=g), dim=1)
    loss = SealObjective(ObjectiveConfig(), 0.07).loss(DistillOutputs(points, pixels), batch)
    plain = superpixel_infonce(points, pixels, batch.superpixels, batch.pair_point,
                               batch.pair_image, batch.pair_row, batch.pair_col, 0.07)
    assert torch.equal(loss, plain)
    assert (batch.point_segments == -1).all() and not batch.scan_is_partner.any()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"temporal": -1.0}, "objective.temporal must be a finite weight"),
    ({"point_to_segment": float("nan")}, "objective.point_to_segment must be"),
    ({"spatial": 0.0}, "every weight is 0"),
    ({"p2s_max_points": 0}, "objective.p2s_max_points must be"),
])
def test_bad_objectives_name_the_key(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ObjectiveConfig(**kwargs)
    assert ObjectiveConfig(temporal=1.0).uses_pairs and not ObjectiveConfig().uses_pairs
