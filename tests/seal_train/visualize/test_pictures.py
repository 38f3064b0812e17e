"""``visualize`` pictures: files written, and the colours at known points of the scan."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from seal_ros.errors import ConfigError
from seal_ros.labels import IGNORE_CLASS, LabelMap
from seal_train.__main__ import main
from seal_train.sources.detect import open_source
from seal_train.visualize import (
    CORRECT_COLOR,
    IGNORED_COLOR,
    TITLE_HEIGHT,
    WRONG_COLOR,
    birds_eye_pixels,
    viridis_colors,
)
from seal_train.visualize.features import query_by_class
from seal_train.visualize.sheets import GAP

CAR = LabelMap.builtin("nuscenes").class_names.index("car")
YELLOW = viridis_colors(np.array([1.0]), 0.0, 1.0)[0]  # (253, 231, 37)
EXTENT, PPM = 30.0, 8.0  # --extent 30: a 480-pixel bird's-eye view


def _read(path: Path) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > 1000
    return cv2.imread(str(path))[..., ::-1]


def _pure_pixels(frame, values: np.ndarray) -> dict[tuple[int, int], int]:
    """Bird's-eye pixels (row, col) all of whose points share one value, with that value."""
    row, col = birds_eye_pixels(frame.xyz, EXTENT, PPM)
    inside = (row >= 0) & (row < 2 * EXTENT * PPM) & (col >= 0) & (col < 2 * EXTENT * PPM)
    key = row[inside] * 10_000 + col[inside]
    vals = values[inside]
    order = np.argsort(key, kind="stable")
    uniq, start = np.unique(key[order], return_index=True)
    low = np.minimum.reduceat(vals[order], start)
    high = np.maximum.reduceat(vals[order], start)
    pure = low == high
    return {(int(k // 10_000), int(k % 10_000)): int(v)
            for k, v in zip(uniq[pure], low[pure], strict=True)}


def test_similarity_query_is_yellow_in_every_column(drive, checkpoint, tmp_path, capsys):
    frame = open_source(drive)[0]
    query = query_by_class(frame, "car")
    assert frame.train_labels()[query] == CAR
    out = tmp_path / "sim"
    args = ["visualize", "similarity", "--data", str(drive), "--checkpoint", "random",
            "--checkpoint", str(checkpoint), "--query-class", "car", "--extent", str(EXTENT),
            "--out", str(out)]
    assert main(args) == 0
    path = out / frame.frame_id / "similarity.png"
    assert f"wrote {path}" in capsys.readouterr().out
    sheet = _read(path)
    width = int(2 * EXTENT * PPM)
    assert sheet.shape[1] == 2 * width + GAP  # two titled columns side by side
    row, col = birds_eye_pixels(frame.xyz[query:query + 1], EXTENT, PPM)
    for column in range(2):
        y, x = TITLE_HEIGHT + row[0], column * (width + GAP) + col[0]
        np.testing.assert_array_equal(sheet[y, x], YELLOW)  # the query is its own best match
        ring = sheet[y - 8, x - 1:x + 2].astype(int)  # the white ring 8 px above it
        assert (ring.min(axis=1) > 200).any()
    assert main(args) == 1  # existing output is kept
    assert "pass --overwrite" in capsys.readouterr().err


def test_similarity_by_index_and_xyz_agree(drive, checkpoint, tmp_path):
    frame = open_source(drive)[0]
    target = frame.xyz[1234]
    for name, query in (("point", ["--point", "1234"]),
                        ("xyz", ["--xyz", *(f"{v:.6f}" for v in target)])):
        assert main(["visualize", "similarity", "--data", str(drive), "--checkpoint",
                     str(checkpoint), *query, "--extent", str(EXTENT), "--cameras", "CAM_FRONT",
                     "--out", str(tmp_path / name)]) == 0
    a = _read(tmp_path / "point" / frame.frame_id / "similarity.png")
    b = _read(tmp_path / "xyz" / frame.frame_id / "similarity.png")
    np.testing.assert_array_equal(a, b)


def test_errors_are_red_where_wrong_and_grey_where_right(drive, car_head, tmp_path, capsys):
    """The head predicts car everywhere: car points are right, every other labelled one wrong."""
    out = tmp_path / "err"
    assert main(["visualize", "errors", "--head", str(car_head), "--data", str(drive),
                 "--extent", str(EXTENT), "--frame", "0", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    frames = open_source(drive)
    for frame in frames:
        sheet = _read(out / frame.frame_id / "errors.png")
        truth = frame.train_labels()
        kind = np.where(truth == IGNORE_CLASS, 0, np.where(truth == CAR, 1, 2))
        pure = _pure_pixels(frame, kind)
        expected = {0: IGNORED_COLOR, 1: CORRECT_COLOR, 2: WRONG_COLOR}
        seen = {0: 0, 1: 0, 2: 0}
        for (r, c), k in pure.items():
            np.testing.assert_array_equal(sheet[TITLE_HEIGHT + r, c], expected[k])
            seen[k] += 1
        assert seen[1] > 5 and seen[2] > 100  # cars and others both checked
        assert f"wrote {out / frame.frame_id / 'errors.png'}" in printed


def test_predictions_show_truth_then_the_heads_palette(drive, car_head, tmp_path):
    frame = open_source(drive)[0]
    palette = frame.label_map.palette
    out = tmp_path / "pred"
    assert main(["visualize", "predictions", "--head", str(car_head), "--data", str(drive),
                 "--extent", str(EXTENT), "--out", str(out)]) == 0
    sheet = _read(out / frame.frame_id / "predictions.png")
    width = int(2 * EXTENT * PPM)
    pure = _pure_pixels(frame, frame.train_labels())
    assert len(pure) > 100
    for (r, c), label in pure.items():
        np.testing.assert_array_equal(sheet[TITLE_HEIGHT + r, c], palette[label])  # truth
        np.testing.assert_array_equal(sheet[TITLE_HEIGHT + r, width + GAP + c], palette[CAR])


def test_superpoints_come_from_the_preview_module(drive, tmp_path, capsys):
    from seal_train.superpixels import OracleSource
    from seal_train.superpixels.generate import generate

    frames = open_source(drive)
    generate(frames, OracleSource(), tmp_path / "sp")
    assert main(["visualize", "superpoints", "--data", str(drive), "--superpixels",
                 str(tmp_path / "sp"), "--cameras", "CAM_FRONT", "--out", str(tmp_path / "o")]) == 0
    folder = tmp_path / "o" / frames[0].frame_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "CAM_FRONT_segments.png", "CAM_FRONT_superpoints.png", "birds_eye_superpoints.png"]
    assert capsys.readouterr().out.count("wrote ") == 3


def test_query_class_needs_the_class(drive):
    frame = open_source(drive)[0]
    with pytest.raises(ConfigError, match="not a class of nuscenes"):
        query_by_class(frame, "unicorn")
