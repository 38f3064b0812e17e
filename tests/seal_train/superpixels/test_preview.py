"""Superpixel pictures: colours, boundaries, the drawings, the CLI."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from seal_ros.errors import DatasetError
from seal_train.__main__ import main
from seal_train.sources.detect import open_source
from seal_train.superpixels import NO_SEGMENT, OracleSource, SuperpixelStore
from seal_train.superpixels.generate import generate
from seal_train.superpixels.preview import (
    BOUNDARY_COLOR,
    draw_superpixels,
    segment_boundaries,
    segment_colors,
    segments_over_image,
    superpoint_colors,
)
from seal_train.superpixels.superpoints import superpoints
from seal_train.synth import SynthConfig
from seal_train.synth.formats import write_drive


def test_segment_colors_are_fixed_and_neighbours_differ():
    colors = segment_colors(np.arange(300))
    assert colors.dtype == np.uint8 and colors.shape == (300, 3) and colors.min() >= 64
    assert len(np.unique(colors, axis=0)) == 300
    np.testing.assert_array_equal(segment_colors(np.array([7, 7])), colors[[7, 7]])


def test_segments_over_image_tints_segments_and_marks_boundaries():
    image = np.full((10, 12, 3), 200, np.uint8)
    segments = np.full((10, 12), NO_SEGMENT, np.uint16)
    segments[:, 6:] = 0
    segments[5:, 6:] = 1
    out = segments_over_image(image, segments, camera_index=1)
    assert (out[:, :6] == image[:, :6]).all()  # no segment: untouched
    boundary = (out == BOUNDARY_COLOR).all(axis=-1)
    expected = np.zeros((10, 12), bool)
    expected[:, 6] = expected[4:6, 6:] = True  # segment 0 (id 0 included) and 1 both outlined
    np.testing.assert_array_equal(boundary, expected)
    tint = 0.55 * 200 + 0.45 * segment_colors(np.array([65536 + 1]))[0]  # camera 1, segment 1
    np.testing.assert_allclose(out[8, 9], tint, atol=0.5)  # rounded to the nearest level


def test_boundaries_equal_skimage_find_boundaries():
    from skimage.segmentation import find_boundaries

    rng = np.random.default_rng(1)
    blocks = rng.integers(0, 6, (8, 10)).astype(np.uint16)
    blocks[blocks == 5] = NO_SEGMENT
    segments = np.kron(blocks, np.ones((6, 5), np.uint16))  # (48, 50), id 0 and void included
    reference = find_boundaries(np.where(segments == NO_SEGMENT, 0, segments.astype(int) + 1),
                                mode="inner", background=0)
    np.testing.assert_array_equal(segment_boundaries(segments), reference)
    assert 50 < reference.sum() < segments.size / 2


def _packed(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return rgb[:, 0] * 65536 + rgb[:, 1] * 256 + rgb[:, 2]


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    """A 1-scene, 2-frame synthetic drive (nuScenes layout) of 64 x 36 images."""
    config = SynthConfig(image_width=64, image_height=36, lidar_azimuth_steps=256)
    return write_drive(tmp_path_factory.mktemp("drive"), scenes=1, frames=2, seed=2,
                       formats=("nuscenes",), config=config)["nuscenes"]


def test_draw_superpixels_of_a_store(drive, tmp_path):
    frames = open_source(drive)
    store = SuperpixelStore(tmp_path / "sp")
    with pytest.raises(DatasetError, match="not a superpixel store"):
        draw_superpixels(frames[0], store, tmp_path / "pics")
    generate(frames, OracleSource(), store.root)
    frame = frames[0]
    written = draw_superpixels(frame, store, tmp_path / "pics")
    names = sorted(path.name for path in written)
    assert len(names) == 2 * len(frame.cameras) + 1 and "birds_eye_superpoints.png" in names
    segments = cv2.imread(str(tmp_path / "pics/CAM_FRONT_segments.png"))[..., ::-1]
    assert segments.shape == (36, 64, 3)
    assert (segments == BOUNDARY_COLOR).all(axis=-1).sum() > 20
    bev = cv2.imread(str(tmp_path / "pics/birds_eye_superpoints.png"))[..., ::-1]
    labels = superpoints(frame, [store.read(cam.image_id) for cam in frame.cameras])
    drawn = np.unique(_packed(bev.reshape(-1, 3)))
    expected = _packed(np.r_[superpoint_colors(labels), [[24, 24, 24]]])  # + the background
    assert len(drawn) > 20 and np.isin(drawn, expected).all()


def test_cli_imports_masks_and_previews_two_images(drive, tmp_path, capsys):
    masks = tmp_path / "masks"
    for frame in open_source(drive):
        for cam in frame.cameras:
            (masks / cam.image_id).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(masks / f"{cam.image_id}.png"), cam.instance_mask)
    out = tmp_path / "sp"
    assert main(["superpixels", "--data", str(drive), "--source", "masks", "--masks",
                 str(masks), "--format", "instance-png", "--out", str(out), "--workers", "1",
                 "--preview", "2"]) == 0
    printed = capsys.readouterr().out
    assert "12 written" in printed and "preview: 5 pictures" in printed
    frame = open_source(drive)[0]
    folder = out / "preview" / frame.frame_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "CAM_FRONT_RIGHT_segments.png", "CAM_FRONT_RIGHT_superpoints.png",
        "CAM_FRONT_segments.png", "CAM_FRONT_superpoints.png", "birds_eye_superpoints.png"]
    assert main(["data", "inspect", str(drive), "--out", str(tmp_path / "inspect"),
                 "--superpixels", str(out)]) == 0
    assert (tmp_path / "inspect" / "CAM_BACK_superpoints.png").is_file()
