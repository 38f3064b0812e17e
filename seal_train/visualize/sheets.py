"""Contact sheets: one titled column per model (bird's-eye, perspective, camera images), so
several checkpoints are compared on the same frame and query in one PNG.

Colours are per point and computed once per column (similarity on viridis, classes in the
dataset's palette, errors grey / red / dim); every view then draws the same colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seal_train.sources.frame import Frame
from seal_train.visualize.raster import (
    BACKGROUND,
    birds_eye,
    chase_camera,
    perspective,
    points_over_image,
    viridis_colors,
)

__all__ = ["CORRECT_COLOR", "IGNORED_COLOR", "TITLE_HEIGHT", "WRONG_COLOR", "Column", "Sheet",
           "draw_sheet", "error_colors", "label_colors", "similarity_colors"]

CORRECT_COLOR = np.array([170, 170, 170], dtype=np.uint8)
WRONG_COLOR = np.array([255, 0, 0], dtype=np.uint8)
IGNORED_COLOR = np.array([60, 60, 60], dtype=np.uint8)  # ignore label: not scored, dimmed
TITLE_HEIGHT = 36  # pixels of the title strip over each column
GAP = 8  # pixels between columns and views


def similarity_colors(similarity: np.ndarray, vmin: float | None = None) -> np.ndarray:
    """(N,) cosine similarity -> viridis, ``vmin`` (default: the lowest value) violet, 1 yellow."""
    low = float(similarity.min()) if vmin is None else vmin
    return viridis_colors(similarity, low, 1.0)


def label_colors(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(N,) training classes -> (N, 3) uint8 colours of ``palette`` (K, 3)."""
    return palette[np.asarray(labels, dtype=np.int64)]


def error_colors(prediction: np.ndarray, truth: np.ndarray, ignore_id: int = 0) -> np.ndarray:
    """(N, 3) uint8: correct grey, wrong red, ignore-labelled points dim."""
    colors = np.where((prediction == truth)[:, None], CORRECT_COLOR, WRONG_COLOR)
    colors[truth == ignore_id] = IGNORED_COLOR
    return colors.astype(np.uint8)


@dataclass(frozen=True)
class Column:
    """What one column shows: a title and a colour per point of the frame."""

    title: str
    colors: np.ndarray  # (N, 3) uint8


@dataclass(frozen=True)
class Sheet:
    """The picture, and where each view of each column starts (for readers and tests)."""

    image: np.ndarray  # (H, W, 3) uint8
    origins: dict[tuple[int, str], tuple[int, int, float]]  # (column, view) -> row, col, scale


def _resize(image: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    import cv2

    scale = width / image.shape[1]
    if scale == 1.0:
        return image, scale
    size = (width, max(1, round(image.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    return cv2.resize(image, size, interpolation=interpolation), scale


def _title(text: str, width: int) -> np.ndarray:
    import cv2

    strip = np.full((TITLE_HEIGHT, width, 3), BACKGROUND, dtype=np.uint8)
    cv2.putText(strip, text, (8, TITLE_HEIGHT - 11), cv2.FONT_HERSHEY_SIMPLEX, 0.75,
                (255, 255, 255), 2, cv2.LINE_AA)
    return strip


def _views(frame: Frame, colors: np.ndarray, mark: int | None, extent_m: float,
           pixels_per_m: float, cameras: Sequence[int]) -> list[tuple[str, np.ndarray]]:
    bev = birds_eye(frame.xyz, colors, extent_m, pixels_per_m, mark=mark)
    width = bev.shape[1]
    views = [("birds_eye", bev),
             ("perspective", perspective(frame.xyz, colors, chase_camera(width, width * 9 // 16),
                                         mark=mark))]
    views += [(frame.cameras[c].name, points_over_image(frame.xyz, frame.cameras[c], colors,
                                                        mark=mark)) for c in cameras]
    return views


def draw_sheet(frame: Frame, columns: Sequence[Column], mark: int | None = None,
               extent_m: float = 60.0, pixels_per_m: float = 8.0,
               cameras: Sequence[int] | None = None, camera_columns: int = 2) -> Sheet:
    """One column per entry of ``columns``: title, bird's-eye view, perspective view, then the
    camera images (``cameras``: indices, default all) ``camera_columns`` to a row."""
    chosen = range(len(frame.cameras)) if cameras is None else cameras
    parts: list[np.ndarray] = []
    origins: dict[tuple[int, str], tuple[int, int, float]] = {}
    x = 0
    for index, column in enumerate(columns):
        views = _views(frame, column.colors, mark, extent_m, pixels_per_m, chosen)
        width = views[0][1].shape[1]
        stack = [_title(column.title, width)]
        y = TITLE_HEIGHT
        for name, view in views[:2]:
            stack.append(view)
            origins[index, name] = (y, x, 1.0)
            y += view.shape[0] + GAP
            stack.append(np.full((GAP, width, 3), BACKGROUND, np.uint8))
        tile = (width - GAP * (camera_columns - 1)) // camera_columns
        row_images: list[np.ndarray] = []
        for k, (name, view) in enumerate(views[2:]):
            small, scale = _resize(view, tile)
            origins[index, name] = (y, x + (k % camera_columns) * (tile + GAP), scale)
            row_images.append(small)
            if len(row_images) == camera_columns or k == len(views) - 3:
                height = max(image.shape[0] for image in row_images)
                row = np.full((height, width, 3), BACKGROUND, np.uint8)
                for j, image in enumerate(row_images):
                    row[:image.shape[0], j * (tile + GAP):j * (tile + GAP) + tile] = image
                stack += [row, np.full((GAP, width, 3), BACKGROUND, np.uint8)]
                y += height + GAP
                row_images = []
        parts.append(np.concatenate(stack))
        x += width + GAP
    height = max(part.shape[0] for part in parts)
    sheet = np.full((height, x - GAP, 3), BACKGROUND, np.uint8)
    x = 0
    for part in parts:
        sheet[:part.shape[0], x:x + part.shape[1]] = part
        x += part.shape[1] + GAP
    return Sheet(sheet, origins)
