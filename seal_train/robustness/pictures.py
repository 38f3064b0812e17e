"""Pictures of the corruptions: the clean and the corrupted scan side by side, from above.

Both panels are :func:`seal_train.visualize.birds_eye` (x right, y up); points are coloured by
range (:func:`~seal_train.visualize.depth_colors`), injected points (fog / snow backscatter,
crosstalk) in :data:`INJECTED_RGB`, drawn on top. PNGs go through
:func:`~seal_train.visualize.write_png` (RGB in, BGR to OpenCV).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seal_ros.errors import ConfigError, DatasetError
from seal_train.robustness.corruptions import (
    Corruption,
    Severity,
    corrupt_frame,
    parse_severity,
)
from seal_train.visualize import birds_eye, depth_colors, write_png

if TYPE_CHECKING:
    from seal_train.sources.frame import Frame

__all__ = ["INJECTED_RGB", "corruption_picture", "write_corruption_pictures"]

log = logging.getLogger(__name__)

INJECTED_RGB = (255, 0, 255)
"""Magenta: no clean point has this colour (the range ramp has no strong red + blue)."""
HEADER_PX = 30
GAP_PX = 4


def _panel(xyz: np.ndarray, colors: np.ndarray, injected: np.ndarray, label: str,
           extent_m: float, pixels_per_m: float) -> np.ndarray:
    xyz = np.asarray(xyz, np.float32)[:, :3].copy()
    colors = np.asarray(colors, np.uint8).copy()
    colors[injected] = INJECTED_RGB
    xyz[injected, 2] = np.inf  # birds_eye draws higher points last: injected on top
    canvas = birds_eye(xyz, colors, extent_m=extent_m, pixels_per_m=pixels_per_m)
    header = np.zeros((HEADER_PX, canvas.shape[1], 3), np.uint8)
    _text(header, label, 0.5)
    return np.concatenate([header, canvas], axis=0)


def _text(canvas: np.ndarray, text: str, scale: float) -> None:
    import cv2

    cv2.putText(canvas, text, (6, canvas.shape[0] - 9), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (235, 235, 235), 1, cv2.LINE_AA)


def corruption_picture(clean_xyz: np.ndarray, corrupted_xyz: np.ndarray, *,
                       injected: np.ndarray | None = None, clean_colors: np.ndarray | None = None,
                       corrupted_colors: np.ndarray | None = None, title: str = "",
                       extent_m: float = 50.0, pixels_per_m: float = 6.0) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the clean scan (left) and the corrupted one (right) from above.

    Args:
        clean_xyz: (N, >=3) clean points (columns after z ignored); corrupted_xyz: (M, >=3).
        injected: (M,) bool, corrupted points with no clean counterpart (``scan.injected``).
        clean_colors / corrupted_colors: (N, 3) / (M, 3) uint8 RGB; default by range.
        title: line above both panels.
        extent_m, pixels_per_m: each panel covers +-extent_m around the sensor.
    """
    clean_xyz, corrupted_xyz = np.asarray(clean_xyz), np.asarray(corrupted_xyz)
    mask = np.zeros(len(corrupted_xyz), bool) if injected is None else np.asarray(injected, bool)
    if mask.shape != (len(corrupted_xyz),):
        raise DatasetError(f"injected mask {mask.shape} for {len(corrupted_xyz)} corrupted points")
    if clean_colors is None:
        clean_colors = depth_colors(np.linalg.norm(clean_xyz[:, :3], axis=1), extent_m)
    if corrupted_colors is None:
        corrupted_colors = depth_colors(np.linalg.norm(corrupted_xyz[:, :3], axis=1), extent_m)
    left = _panel(clean_xyz, clean_colors, np.zeros(len(clean_xyz), bool),
                  f"clean: {len(clean_xyz)} points", extent_m, pixels_per_m)
    right = _panel(corrupted_xyz, corrupted_colors, mask,
                   f"corrupted: {len(corrupted_xyz)} points, {int(mask.sum())} injected",
                   extent_m, pixels_per_m)
    gap = np.full((left.shape[0], GAP_PX, 3), 255, np.uint8)
    body = np.concatenate([left, gap, right], axis=1)
    header = np.zeros((HEADER_PX, body.shape[1], 3), np.uint8)
    _text(header, title, 0.6)
    return np.concatenate([header, body], axis=0)


def write_corruption_pictures(frame: Frame, out_dir: str | Path,
                              severity: Severity | str = Severity.MODERATE, seed: int = 0, *,
                              corruptions: tuple[Corruption, ...] = tuple(Corruption),
                              overwrite: bool = False) -> list[Path]:
    """One PNG per corruption, ``<frame id>_<corruption>_<severity>.png`` in ``out_dir``.

    A corruption the frame cannot take (a channel it lacks, e.g. KITTI's ring) is logged and
    skipped. Existing files are refused (ConfigError) unless ``overwrite``.

    Returns:
        The written paths, in ``corruptions`` order.
    """
    severity = parse_severity(severity)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", frame.frame_id).strip("_") or "frame"
    out_dir = Path(out_dir)
    targets = {c: out_dir / f"{slug}_{c.value}_{severity.value}.png" for c in corruptions}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{existing[0]} exists ({len(existing)} of the pictures); pass "
                          f"overwrite=True to replace them")
    written = []
    for corruption, path in targets.items():
        try:
            scan = corrupt_frame(frame, corruption, severity, seed)
        except DatasetError as err:
            log.warning("%s: no %s picture: %s", frame.frame_id, corruption.value, err)
            continue
        title = f"{frame.frame_id}  {corruption.value} / {severity.value}  (seed {seed})"
        picture = corruption_picture(frame.xyz, scan.points, injected=scan.injected, title=title)
        written.append(write_png(path, picture))
    return written
