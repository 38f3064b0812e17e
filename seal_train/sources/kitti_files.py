"""The text and image files of a SemanticKITTI-format sequence, read with errors that name them.

``calib.txt`` (``KEY: 12 numbers`` lines), ``poses.txt`` (one 3x4 row-major pose per line),
``times.txt`` / ``times_ns.txt`` (stamps), PNG headers (image sizes without decoding) and folder
listings with byte sizes. Every reader raises :class:`~seal_train.sources.planned.FrameError` with
the reason a :class:`~seal_train.sources.kitti.KittiSource` counts when it skips.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from seal_train.sources.planned import FrameError

__all__ = ["TIMES_NS_FILE", "dir_sizes", "png_size", "read_calib", "read_poses",
           "read_stamps_ns"]

TIMES_NS_FILE = "times_ns.txt"
"""Integer-ns stamps, one per frame (Seal writes it; preferred over ``times.txt``)."""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_calib(path: Path) -> dict[str, np.ndarray]:
    """``calib.txt`` -> ``{key: (3, 4) float64}`` for every ``KEY: 12 numbers`` line."""
    try:
        text = path.read_text()
    except OSError as err:
        raise FrameError("calibration", f"{path}: cannot read calibration ({err.strerror}); "
                         f"expected lines 'P0: <12 numbers>' .. 'P3:', 'Tr:'") from None
    calib: dict[str, np.ndarray] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, values = line.partition(":")
        try:
            matrix = np.array(values.split(), dtype=np.float64)
        except ValueError:
            matrix = np.zeros(0)
        if not sep or matrix.size != 12 or not np.all(np.isfinite(matrix)):
            raise FrameError("calibration", f"{path}:{number}: {line.strip()[:60]!r} is not "
                             f"'KEY: <12 finite numbers>' (a 3x4 row-major matrix)")
        calib[key.strip()] = matrix.reshape(3, 4)
    return calib


def read_poses(path: Path) -> np.ndarray:
    """``poses.txt`` -> (M, 4, 4) float64, one 3x4 row-major pose per line."""
    try:
        text = path.read_text()
    except OSError as err:
        raise FrameError("poses", f"{path}: cannot read poses ({err.strerror}); expected one "
                         f"3x4 row-major pose (12 numbers) per frame") from None
    rows = [line.split() for line in text.splitlines() if line.strip()]
    bad = [i for i, row in enumerate(rows, start=1) if len(row) != 12]
    if bad:
        raise FrameError("poses", f"{path}:{bad[0]}: {len(rows[bad[0] - 1])} numbers; expected "
                         f"12 (a 3x4 row-major pose) on every line")
    try:
        values = np.array(rows, dtype=np.float64).reshape(-1, 3, 4)
    except ValueError as err:
        raise FrameError("poses", f"{path}: not numbers: {err}") from None
    if not np.all(np.isfinite(values)):
        raise FrameError("poses", f"{path}: NaN/inf in poses")
    poses = np.zeros((len(values), 4, 4))
    poses[:, :3] = values
    poses[:, 3, 3] = 1.0
    return poses


def read_stamps_ns(seq_dir: Path) -> tuple[Path, list[int]]:
    """Per-frame stamps in ns: ``times_ns.txt`` if present, else ``times.txt`` (exact decimals)."""
    ns_path = seq_dir / TIMES_NS_FILE
    path = ns_path if ns_path.is_file() else seq_dir / "times.txt"
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as err:
        raise FrameError("times", f"{path}: cannot read timestamps ({err.strerror}); expected "
                         f"one time in seconds per frame") from None
    stamps = []
    for number, line in enumerate(lines, start=1):
        try:
            if path is ns_path:
                stamps.append(int(line))
            else:
                stamps.append(int((Decimal(line) * 1_000_000_000).to_integral_value()))
        except (ValueError, InvalidOperation):
            unit = "integer nanoseconds" if path is ns_path else "seconds"
            raise FrameError("times", f"{path}:{number}: {line[:40]!r} is not a time in "
                             f"{unit}") from None
    return path, stamps


def png_size(path: Path) -> tuple[int, int]:
    """(height, width) of a PNG from its header, without decoding it."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError as err:
        raise FrameError("missing_image", f"{path}: cannot read ({err.strerror})") from None
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise FrameError("bad_image", f"{path}: not a PNG file")
    return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big")


def dir_sizes(folder: Path, suffix: str) -> dict[str, int]:
    """``{stem: byte size}`` of the files ending in ``suffix`` in ``folder`` (one scandir)."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name[: -len(suffix)]: entry.stat().st_size for entry in entries
                    if entry.name.endswith(suffix) and entry.is_file()}
    except FileNotFoundError:
        return {}
