"""LiDAR-prompted SAM: clusters land on single objects, prompts are well formed, the source writes
a valid store through ``generate`` (the ``segment_frame`` path) with SLIC filling the rest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from seal_ros.errors import ConfigError  # noqa: E402
from seal_train.sources.frame import Frame  # noqa: E402
from seal_train.superpixels import NO_SEGMENT, SuperpixelStore  # noqa: E402
from seal_train.superpixels.generate import generate  # noqa: E402
from seal_train.superpixels.sam import SamModel, build_tiny_sam  # noqa: E402
from seal_train.superpixels.sam_lidar import (  # noqa: E402
    SamLidarSettings,
    SamLidarSource,
    cluster_prompts,
)
from seal_train.synth import SynthConfig, generate_scene  # noqa: E402

# Random weights: keep every mask SAM returns; 2-px occlusion cells suit 64x36 images.
LOOSE = SamLidarSettings(min_point_coverage=0.0, occlusion_cell_px=2, slic_n_segments=20)


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    config = SynthConfig(scenes=1, frames=2, image_width=64, image_height=36,
                         lidar_azimuth_steps=512)
    return [f.frame for f in generate_scene(config, 0).frames]


def _prompt_purity(frame: Frame, settings: SamLidarSettings) -> tuple[float, int]:
    """Share of prompted points on their cluster's majority instance (the synthetic oracle)."""
    clusters = SamLidarSource(SamModel("tiny"), settings).clusters(frame)
    agree = total = prompted = 0
    for camera in frame.cameras:
        prompts = cluster_prompts(frame.xyz, clusters, camera, settings,
                                  np.random.default_rng(0))
        assert camera.instance_mask is not None
        instance = camera.instance_mask[prompts.point_row, prompts.point_col].astype(np.int64)
        for group in range(len(prompts)):
            values = instance[prompts.point_group == group]
            agree, total = agree + int(np.bincount(values).max()), total + len(values)
        prompted += len(prompts)
    return agree / total, prompted


def test_clusters_exclude_ground_and_prompts_sit_on_single_objects(frames: list[Frame]) -> None:
    frame = frames[0]
    clusters = SamLidarSource(SamModel("tiny"), LOOSE).clusters(frame)
    assert clusters.dtype == np.int64 and clusters.shape == (len(frame.points),)
    assert clusters.max() >= 10
    flat = np.isin(frame.train_labels(), [11, 12, 13, 14])  # driveable surface ... terrain
    assert (clusters[flat] == -1).mean() > 0.99  # the ground is never prompted
    assert frame.instances is not None
    instances = frame.instances.astype(np.int64)
    majority = sum(int(np.bincount(instances[clusters == c]).max())
                   for c in range(clusters.max() + 1))
    assert majority / (clusters >= 0).sum() > 0.9  # a cluster is (mostly) one object
    purity, prompted = _prompt_purity(frame, SamLidarSettings())
    assert prompted >= 15 and purity > 0.97
    # Without the depth test, clusters behind others prompt on the occluder.
    blind, _ = _prompt_purity(frame, SamLidarSettings(occlusion_margin_m=1e6))
    assert blind < purity


def test_prompts_are_padded_points_inside_their_box(frames: list[Frame]) -> None:
    frame = frames[0]
    clusters = SamLidarSource(SamModel("tiny"), LOOSE).clusters(frame)
    camera = frame.cameras[0]
    prompts = cluster_prompts(frame.xyz, clusters, camera, LOOSE, np.random.default_rng(0))
    n = len(prompts)
    assert n > 0 and prompts.coords.shape == (n, 5, 2) and prompts.labels.shape == (n, 5)
    counts = np.bincount(prompts.point_group, minlength=n)
    assert (counts >= LOOSE.min_prompt_points).all()
    np.testing.assert_array_equal((prompts.labels == 1).sum(axis=1), np.minimum(counts, 5))
    assert set(np.unique(prompts.labels).tolist()) <= {-1, 1}
    real = prompts.labels == 1
    x, y = prompts.coords[..., 0], prompts.coords[..., 1]
    boxes = prompts.boxes[:, None, :]
    assert ((x >= boxes[..., 0]) & (x <= boxes[..., 2]) & (y >= boxes[..., 1])
            & (y <= boxes[..., 3]))[real].all()
    assert (prompts.boxes[:, 2:] < [camera.width, camera.height]).all()
    # every sampled point is one of its cluster's visible pixels
    pixels = {(g, r, c) for g, r, c in zip(prompts.point_group, prompts.point_row,
                                           prompts.point_col, strict=True)}
    for g, k in zip(*np.nonzero(real), strict=True):
        assert (g, int(prompts.coords[g, k, 1]), int(prompts.coords[g, k, 0])) in pixels


def test_end_to_end_store_with_slic_background_and_resume(frames: list[Frame],
                                                          tmp_path: Path) -> None:
    source = SamLidarSource(build_tiny_sam(seed=2), LOOSE, device="cpu")
    report = generate(frames, source, tmp_path / "sp", workers=2)  # workers do not apply
    assert (report.images, report.written, report.already_done) == (12, 12, 0)
    store = SuperpixelStore(tmp_path / "sp")
    manifest = store.manifest()
    assert manifest is not None and manifest.source == "sam-lidar"
    assert manifest.parameters["background"] == "slic"
    assert manifest.parameters["model"]["kind"] == "object:Sam"
    for camera in (c for f in frames for c in f.cameras):
        segments = store.read(camera.image_id, shape=(36, 64))
        assert (segments != NO_SEGMENT).all()  # SLIC fills what no mask covers
        assert np.unique(segments).tolist() == list(range(int(segments.max()) + 1))
    gone = frames[1].cameras[2].image_id
    store.path(gone).unlink()
    again = generate(frames, source, tmp_path / "sp")
    assert (again.written, again.already_done) == (1, 11)


def test_background_none_leaves_uncovered_pixels_and_masks_follow_prompts(
        frames: list[Frame]) -> None:
    settings = SamLidarSettings(min_point_coverage=0.0, occlusion_cell_px=2, background="none")
    source = SamLidarSource(build_tiny_sam(seed=2), settings, device="cpu")
    timing: dict[str, float] = {}
    maps = source.segment_frame(frames[0], timing)
    assert set(maps) == {c.image_id for c in frames[0].cameras}
    assert set(timing) == {"scene_s", "encoder_s", "decoder_s", "post_s", "prompts", "masks"}
    assert 0 < timing["masks"] <= timing["prompts"]
    assert any((m == NO_SEGMENT).any() for m in maps.values())
    strict = SamLidarSource(build_tiny_sam(seed=2), SamLidarSettings(
        min_point_coverage=1.0, pred_iou_thresh=1.0, occlusion_cell_px=2, background="none"))
    assert all((m == NO_SEGMENT).all() for m in strict.segment_frame(frames[0]).values())


def test_image_only_segment_refuses_and_settings_are_checked(frames: list[Frame]) -> None:
    source = SamLidarSource(SamModel("tiny"))
    with pytest.raises(ConfigError, match="prompts SAM with the LiDAR scan"):
        source.segment(frames[0].cameras[0])
    with pytest.raises(ConfigError, match=r"background='sky' \(slic or none\)"):
        SamLidarSettings(background="sky")
    with pytest.raises(ConfigError, match=r"points_per_prompt=0 \(>= 1\)"):
        SamLidarSettings(points_per_prompt=0)
