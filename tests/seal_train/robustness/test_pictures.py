"""Corruption pictures: two bird's-eye panels, injected points in their own colour, PNGs on disk."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from seal_ros.errors import ConfigError
from seal_train.robustness import Corruption, corrupt_frame, write_corruption_pictures
from seal_train.robustness.pictures import GAP_PX, HEADER_PX, INJECTED_RGB, corruption_picture
from seal_train.sources.frame import Frame
from seal_train.synth import SynthConfig, generate_scene


@pytest.fixture(scope="module")
def frame() -> Frame:
    scene = generate_scene(SynthConfig(scenes=1, frames=1, image_width=64, image_height=36), 0)
    return scene.frames[0].frame


def _magenta(image: np.ndarray) -> int:
    return int(np.all(image == np.array(INJECTED_RGB, np.uint8), axis=-1).sum())


def _panels(picture: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    body = picture[2 * HEADER_PX:]
    return body[:, :size], body[:, size + GAP_PX:]


def test_picture_has_two_panels_and_injected_points_coloured(frame: Frame) -> None:
    scan = corrupt_frame(frame, "crosstalk", "heavy")
    picture = corruption_picture(frame.xyz, scan.points, injected=scan.injected, title="t",
                                 extent_m=40.0, pixels_per_m=5.0)
    size = 400
    assert picture.dtype == np.uint8 and picture.shape == (2 * HEADER_PX + size,
                                                           2 * size + GAP_PX, 3)
    left, right = _panels(picture, size)
    assert _magenta(left) == 0 and _magenta(right) > 100  # crosstalk points in magenta
    assert (left != 24).any(axis=-1).sum() > 1000  # the clean scan is drawn
    plain = corruption_picture(frame.xyz, scan.points, extent_m=40.0, pixels_per_m=5.0)
    assert _magenta(plain) == 0
    blurred = corruption_picture(frame.xyz, corrupt_frame(frame, "beam_missing", "heavy").points,
                                 extent_m=40.0, pixels_per_m=5.0)
    left, right = _panels(blurred, size)
    assert (right != 24).any(axis=-1).sum() < (left != 24).any(axis=-1).sum()  # fewer rings


def test_one_png_per_corruption_refuses_to_overwrite(frame: Frame, tmp_path: Path) -> None:
    paths = write_corruption_pictures(frame, tmp_path, "light", seed=1)
    assert [p.name for p in paths] == [f"scene-0000_000000_{c.value}_light.png"
                                       for c in Corruption]
    image = cv2.imread(str(paths[0]))  # BGR; magenta reads the same either way
    assert image is not None and image.shape[1] == 2 * image.shape[0] - 4 * HEADER_PX + GAP_PX
    assert _magenta(image[..., ::-1]) > 0  # fog backscatter shown
    with pytest.raises(ConfigError, match="overwrite"):
        write_corruption_pictures(frame, tmp_path, "light", seed=1)
    again = write_corruption_pictures(frame, tmp_path, "light", seed=1,
                                      corruptions=(Corruption.SNOW,), overwrite=True)
    assert again == [tmp_path / "scene-0000_000000_snow_light.png"]


def test_a_corruption_the_frame_cannot_take_is_skipped(frame: Frame, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    no_ring = dataclasses.replace(frame, points=frame.points[:, :4],
                                  channels=("x", "y", "z", "intensity"))
    with caplog.at_level(logging.WARNING):
        paths = write_corruption_pictures(no_ring, tmp_path, "moderate",
                                          corruptions=(Corruption.BEAM_MISSING,
                                                       Corruption.MOTION_BLUR))
    assert [p.name for p in paths] == ["scene-0000_000000_motion_blur_moderate.png"]
    assert "no beam_missing picture" in caplog.text and "'ring'" in caplog.text
