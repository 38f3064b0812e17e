"""The released nuScenes-C files (Robo3D) read back as :class:`~.corruptions.CorruptedScan` records.

Layout (Robo3D ``docs/DATA_PREPARE.md``; the generation scripts ``create/nuscenes_c/*/*.py`` write
each scan under the nuScenes path it came from)::

    <root>/<corruption>/<severity>/samples/LIDAR_TOP/<nuScenes LIDAR_TOP file name>.pcd.bin
    <root>/<corruption>/<severity>/lidarseg/v1.0-trainval/<lidar sample_data token>_lidarseg.bin

Points are N x 5 float32 (x, y, z, intensity 0..255, ring) like nuScenes; labels one uint8 raw
lidarseg id per point, with Robo3D's markers 41 (fog backscatter), 42 (snowflake) and 43
(crosstalk) for the points it invented. Two quirks of the released data are handled here: the
snow scans' fifth column is Robo3D's per-point flag (0 untouched, 1 attenuated, 2 snowflake), not
the ring, so rings are restored from the clean scan; the wet-ground scans list the non-ground
points first (order changed), so rows are matched by coordinates.

How each corrupted point finds its clean row (``source``): motion blur, fog and crosstalk keep
count and order (row i is clean row i; fog / crosstalk rows whose coordinates changed, or that
carry a marker label, are injected, -1); the others only drop points (snow also replaces some),
so rows are matched by their exact float32 coordinates, unmatched ones being injected.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seal_ros.errors import DatasetError
from seal_train.robustness.corruptions import (
    CorruptedScan,
    Corruption,
    Severity,
    parse_corruption,
    parse_severity,
)

if TYPE_CHECKING:
    from seal_train.sources.frame import Frame

__all__ = ["LIDAR_FILENAME_KEY", "ROBO3D_MARKER_IDS", "load_nuscenes_c", "nuscenes_c_paths"]

LIDAR_DIR = "samples/LIDAR_TOP"
LABEL_DIR = "lidarseg/v1.0-trainval"
POINT_CHANNELS = ("x", "y", "z", "intensity", "ring")
LIDAR_FILENAME_KEY = "lidar_filename"
"""``Frame.extras`` key holding the LIDAR_TOP sample_data ``filename``
(``samples/LIDAR_TOP/<name>.pcd.bin``); without it the file is found by the scan's timestamp."""
ROBO3D_MARKER_IDS = (41, 42, 43)
"""Label ids Robo3D gives invented points: fog, snow, crosstalk."""
_IN_ORDER = (Corruption.MOTION_BLUR, Corruption.FOG, Corruption.CROSSTALK)
_SUBSETS = (Corruption.BEAM_MISSING, Corruption.CROSS_SENSOR, Corruption.INCOMPLETE_ECHO,
            Corruption.WET_GROUND)


def _folder(root: Path, corruption: Corruption, severity: Severity) -> Path:
    if not root.is_dir():
        raise DatasetError(f"{root}: nuScenes-C root folder does not exist")
    here = root
    for name, what in ((corruption.value, "corruption"), (severity.value, "severity")):
        below = here / name
        if not below.is_dir():
            found = sorted(p.name for p in here.iterdir() if p.is_dir())
            raise DatasetError(f"{below}: missing; expected the nuScenes-C {what} folder "
                               f"{name!r} (found {found})")
        here = below
    return here


def _lidar_name(folder: Path, frame: Frame, lidar_filename: str | None) -> str:
    name = lidar_filename or frame.extras.get(LIDAR_FILENAME_KEY)
    if name:
        return Path(str(name)).name
    stamp_us = frame.stamp_ns // 1000  # nuScenes names end in __LIDAR_TOP__<timestamp us>
    matches = sorted((folder / LIDAR_DIR).glob(f"*__LIDAR_TOP__{stamp_us}.pcd.bin"))
    if len(matches) != 1:
        raise DatasetError(f"{folder / LIDAR_DIR}: {len(matches)} files match "
                           f"*__LIDAR_TOP__{stamp_us}.pcd.bin for frame {frame.frame_id}; pass "
                           f"lidar_filename or set frame.extras[{LIDAR_FILENAME_KEY!r}]")
    return matches[0].name


def nuscenes_c_paths(root: str | Path, corruption: Corruption | str, severity: Severity | str,
                     lidar_filename: str, token: str) -> tuple[Path, Path]:
    """(points file, labels file) of one scan; the folders are checked, the files are not."""
    folder = _folder(Path(root), parse_corruption(corruption), parse_severity(severity))
    return (folder / LIDAR_DIR / Path(lidar_filename).name,
            folder / LABEL_DIR / f"{token}_lidarseg.bin")


def _xyz_keys(xyz: np.ndarray) -> np.ndarray:
    """(N,) void keys of the exact float32 bits of x, y, z."""
    return np.ascontiguousarray(xyz, dtype=np.float32).view(np.dtype((np.void, 12))).ravel()


def _match_rows(clean_xyz: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """(M,) int64 clean row with bit-identical coordinates (the first such), -1 when none."""
    keys, inverse = np.unique(np.concatenate([_xyz_keys(clean_xyz), _xyz_keys(xyz)]),
                              return_inverse=True)
    clean_ids, ids = inverse[:len(clean_xyz)], inverse[len(clean_xyz):]
    lookup = np.full(len(keys), -1, dtype=np.int64)
    present, first = np.unique(clean_ids, return_index=True)  # first occurrence wins
    lookup[present] = first
    return lookup[ids]


def _nearest_ring(clean: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """(M,) ring of the clean beam whose median elevation is nearest each point's elevation."""
    ring = np.round(clean[:, 4]).astype(np.int64)
    elevation = np.arctan2(clean[:, 2], np.hypot(clean[:, 0], clean[:, 1]))
    beams = np.unique(ring)
    medians = np.array([np.median(elevation[ring == b]) for b in beams])  # loop over beams
    query = np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1]))
    return beams[np.argmin(np.abs(query[:, None] - medians[None, :]), axis=1)]


def load_nuscenes_c(root: str | Path, corruption: Corruption | str, severity: Severity | str,
                    frame: Frame, *, lidar_filename: str | None = None) -> CorruptedScan:
    """The released corrupted version of a nuScenes frame.

    Args:
        root: the nuScenes-C folder holding ``fog/``, ``wet_ground/``, ...
        frame: the clean nuScenes frame (``frame_id`` = LIDAR_TOP sample_data token, channels
            x, y, z, intensity, ring).
        lidar_filename: its LIDAR_TOP file name; default ``frame.extras["lidar_filename"]``, else
            the one file in the folder named for the frame's timestamp.

    Raises:
        DatasetError: naming the missing folder or file, a file that is not N x 5 float32, a
            label file of another length, or a scan that is not a corruption of this frame.
    """
    corruption, severity = parse_corruption(corruption), parse_severity(severity)
    if tuple(frame.channels) != POINT_CHANNELS:
        raise DatasetError(f"frame {frame.frame_id}: channels {frame.channels}; nuScenes-C needs "
                           f"the nuScenes frame with {POINT_CHANNELS}")
    folder = _folder(Path(root), corruption, severity)
    path = folder / LIDAR_DIR / _lidar_name(folder, frame, lidar_filename)
    labels_path = folder / LABEL_DIR / f"{frame.frame_id}_lidarseg.bin"
    try:
        raw = np.fromfile(path, dtype=np.float32)
    except OSError:
        raise DatasetError(f"{path}: missing; expected the {corruption.value}/{severity.value} "
                           f"scan of sample_data {frame.frame_id}") from None
    if raw.size % 5:
        raise DatasetError(f"{path}: {raw.size * 4} bytes is not N x 5 float32 (x, y, z, "
                           f"intensity, ring)")
    points = raw.reshape(-1, 5)
    marked = np.zeros(len(points), bool)
    if labels_path.is_file():
        labels = np.fromfile(labels_path, dtype=np.uint8)
        if len(labels) != len(points):
            raise DatasetError(f"{labels_path}: {len(labels)} labels for the {len(points)} "
                               f"points of {path.name}")
        marked = np.isin(labels, ROBO3D_MARKER_IDS)
    clean = frame.points
    where = f"{path}: not a {corruption.value} corruption of frame {frame.frame_id}"
    if corruption in _IN_ORDER:
        if len(points) != len(clean):
            raise DatasetError(f"{where} ({len(points)} points, the frame has {len(clean)})")
        source = np.arange(len(points), dtype=np.int64)
        if corruption is not Corruption.MOTION_BLUR:
            moved = np.any(points[:, :3].view(np.uint32) != clean[:, :3].view(np.uint32), axis=1)
            source[moved | marked] = -1
    else:
        source = _match_rows(clean[:, :3], points[:, :3])
        source[marked] = -1
        if corruption in _SUBSETS and np.any(source < 0):
            raise DatasetError(f"{where} ({int((source < 0).sum())} of {len(points)} points are "
                               f"not in the clean scan)")
        if len(points) > len(clean):
            raise DatasetError(f"{where} ({len(points)} points, the frame has {len(clean)})")
    if corruption is Corruption.SNOW:  # column 5 is Robo3D's snow flag: put the rings back
        points = points.copy()
        kept = source >= 0
        points[kept, 4] = clean[source[kept], 4]
        if (~kept).any() and len(clean):
            points[~kept, 4] = _nearest_ring(clean, points[~kept])
    return CorruptedScan(np.ascontiguousarray(points, dtype=np.float32), POINT_CHANNELS, source)
