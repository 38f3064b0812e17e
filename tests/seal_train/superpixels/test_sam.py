"""SAM superpixels: painting invariants (dense, no uint8 wrap, NO_SEGMENT apart, small on top),
the CLI factory, the batched encoder, and the automatic generator end to end through ``generate``
with a tiny random-weight SAM on a synthetic drive."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from seal_ros.errors import ConfigError  # noqa: E402
from seal_train.sources.frame import Frame  # noqa: E402
from seal_train.superpixels import NO_SEGMENT, SuperpixelStore  # noqa: E402
from seal_train.superpixels.generate import generate, segment_counts  # noqa: E402
from seal_train.superpixels.sam import (  # noqa: E402
    SamGeneratorSettings,
    SamModel,
    SamSource,
    build_tiny_sam,
    fill_small_holes,
    make_sam_source,
    paint_masks,
)
from seal_train.synth import SynthConfig, generate_scene  # noqa: E402

# Random weights predict low IoUs: thresholds off so masks survive; a 4x4 grid keeps it fast.
LOOSE = SamGeneratorSettings(points_per_side=4, pred_iou_thresh=0.0, stability_score_thresh=0.0)


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    """Two synthetic-drive frames, six 64x36 cameras each (the tiny SAM's input is 64 wide)."""
    config = SynthConfig(scenes=1, frames=2, image_width=64, image_height=36,
                         lidar_azimuth_steps=512)
    return [f.frame for f in generate_scene(config, 0).frames]


def test_painting_past_255_masks_keeps_dense_uint16_ids_in_area_order(tmp_path: Path) -> None:
    # 300 masks: mask i is row i, columns 0..i (area i + 1); the rest of each row is uncovered.
    masks = [np.zeros((300, 301), bool) for _ in range(300)]
    for i, mask in enumerate(masks):
        mask[i, :i + 1] = True
    out = paint_masks(masks, (300, 301))
    assert out.dtype == np.uint16
    rows, cols = np.indices(out.shape)
    expected = np.where(cols <= rows, 299 - rows, NO_SEGMENT)  # largest mask = id 0
    np.testing.assert_array_equal(out, expected)
    assert sorted(np.unique(out[out != NO_SEGMENT]).tolist()) == list(range(300))
    store = SuperpixelStore(tmp_path)
    store.write("cam/0", out)
    np.testing.assert_array_equal(store.read("cam/0"), expected)  # no wrap through the PNG


def test_small_masks_paint_on_top_and_a_hidden_mask_leaves_no_gap_in_ids() -> None:
    big = np.zeros((10, 10), bool)
    big[:, :8] = True  # area 80, a 2-column strip on the right is uncovered
    medium = np.zeros_like(big)
    medium[0:4, 0:4] = True  # area 16, hidden entirely by the two masks below
    left, right = np.zeros_like(big), np.zeros_like(big)
    left[0:4, 0:2], right[0:4, 2:4] = True, True  # area 8 each
    tiny = np.zeros_like(big)
    tiny[6, 6] = True
    out = paint_masks([tiny, big, left, medium, right], (10, 10))
    assert out[6, 6] == 3  # ranks: big 0, medium (hidden), left 1, right 2, tiny 3
    assert out[0, 0] == 1 and out[0, 3] == 2 and out[9, 0] == 0
    assert (out[:, 8:] == NO_SEGMENT).all()
    assert sorted(np.unique(out).tolist()) == [0, 1, 2, 3, NO_SEGMENT]
    assert paint_masks([], (3, 4)).tolist() == [[NO_SEGMENT] * 4] * 3


def test_fill_small_holes_grows_neighbours_and_keeps_large_gaps() -> None:
    segments = np.full((20, 20), NO_SEGMENT, np.uint16)
    segments[:, :10] = 0
    segments[:, 10:16] = 1  # columns 16..19 uncovered: 80 px
    segments[5, 3] = segments[5, 4] = NO_SEGMENT  # a 2-px hole in segment 0
    filled = fill_small_holes(segments, max_area=10)
    assert filled[5, 3] == filled[5, 4] == 0
    assert (filled[:, 16:] == NO_SEGMENT).all()
    assert (fill_small_holes(segments, max_area=100) != NO_SEGMENT).all()
    np.testing.assert_array_equal(fill_small_holes(segments, 0), segments)


def test_automatic_masks_end_to_end_through_generate_and_resume(frames: list[Frame],
                                                                tmp_path: Path) -> None:
    source = SamSource(SamModel("tiny"), LOOSE, device="cpu")
    report = generate(frames, source, tmp_path / "sam")
    assert (report.images, report.written, report.already_done) == (12, 12, 0)
    store = SuperpixelStore(tmp_path / "sam")
    manifest = store.manifest()
    assert manifest is not None and manifest.source == "sam"
    assert manifest.parameters["model"] == {"kind": "tiny", "checkpoint": None}
    assert manifest.parameters["points_per_side"] == 4
    ids = [c.image_id for f in frames for c in f.cameras]
    counts = segment_counts(store, ids)
    assert counts.sum() > 0
    for image_id, count in zip(ids, counts, strict=True):
        segments = store.read(image_id, shape=(36, 64))
        present = np.unique(segments[segments != NO_SEGMENT])
        assert present.tolist() == list(range(count))  # dense from 0
    store.path(ids[3]).unlink()
    again = generate(frames, source, tmp_path / "sam")
    assert (again.written, again.already_done) == (1, 11)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_batched_encoder_equals_one_image_at_a_time(frames: list[Frame], device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model = build_tiny_sam(seed=3)
    cameras = frames[0].cameras
    timing: dict[str, float] = {}
    batched = SamSource(model, LOOSE, device=device).segment_many(cameras, timing)
    single = SamSource(model, LOOSE, device=device, encoder_batch=1)
    assert set(timing) == {"encoder_s", "decoder_s", "post_s", "masks"}
    for camera, segments in zip(cameras, batched, strict=True):
        np.testing.assert_array_equal(single.segment(camera), segments)


def test_missing_checkpoint_and_bad_options_fail_before_any_work(tmp_path: Path) -> None:
    missing = tmp_path / "sam_vit_h_4b8939.pth"
    with pytest.raises(ConfigError, match=f"{missing}: no such SAM checkpoint file"):
        make_sam_source("sam", missing, "vit_h", {})
    with pytest.raises(ConfigError, match="needs its checkpoint file"):
        make_sam_source("sam-lidar", None, "vit_b", {})
    with pytest.raises(ConfigError, match="'vit_x': expected one of vit_h, vit_l, vit_b, tiny"):
        make_sam_source("sam", None, "vit_x", {})
    with pytest.raises(ConfigError, match=r"points_per_sid: unknown for --source sam; valid: "
                                          r"box_nms_thresh, .*points_per_side"):
        make_sam_source("sam", None, "tiny", {"points_per_sid": 8})
    with pytest.raises(ConfigError, match="eps_m: unknown for --source sam"):
        make_sam_source("sam", None, "tiny", {"eps_m": "0.5"})
    with pytest.raises(ConfigError, match="points_per_side='many': expected int"):
        make_sam_source("sam", None, "tiny", {"points_per_side": "many"})
    with pytest.raises(ConfigError, match=r"pred_iou_thresh=1.5 \(0..1\)"):
        make_sam_source("sam", None, "tiny", {"pred_iou_thresh": 1.5})


def test_factory_parses_cli_strings_and_the_source_pickles_without_its_model(
        frames: list[Frame]) -> None:
    source = make_sam_source("sam", None, "tiny", {"points_per_side": "4", "pred_iou_thresh": "0",
                                                   "stability_score_thresh": 0, "device": "cpu"})
    assert isinstance(source, SamSource)
    assert source.settings == LOOSE and source.device == "cpu"
    before = len(pickle.dumps(source))
    expected = source.segment(frames[0].cameras[0])  # builds the model
    assert len(pickle.dumps(source)) == before  # the built model is not pickled
    clone = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(clone.segment(frames[0].cameras[0]), expected)
    assert make_sam_source("sam-lidar", None, "tiny", {"eps_m": "0.5"}).name == "sam-lidar"
