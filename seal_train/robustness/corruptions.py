"""The eight nuScenes-C (Robo3D) corruptions, applied on the fly to one LiDAR scan.

Definitions and severity constants follow Robo3D's generation scripts (``ldkong1205/Robo3D``,
``create/nuscenes_c/<corruption>/*.py``); fog, snow and wet ground are in :mod:`.weather`. No
corruption reads labels: where Robo3D selects points by ground-truth class (incomplete echo's
vehicles, wet ground's and snow's ground), a label-free estimate takes its place. Each corruption
keeps the surviving points in their input order; a point it invents (fog / snow backscatter,
crosstalk) takes the row of the return it replaces and has ``source == -1``, scored as ignore.

Example::

    scan = corrupt_frame(frame, "fog", "heavy", seed=0)
    labels = scan.labels_from(frame.train_labels())   # injected points -> 0 (ignore)
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from seal_ros.errors import ConfigError, DatasetError
from seal_train.robustness import weather
from seal_train.scene import ground

if TYPE_CHECKING:
    from seal_train.sources.frame import Frame

__all__ = ["CorruptedScan", "Corruption", "Severity", "corrupt_frame", "corrupt_points",
           "parse_corruption", "parse_corruptions", "parse_severity", "stream_seed"]


class Corruption(enum.StrEnum):
    """The eight corruptions, in Robo3D's table order."""

    FOG = "fog"
    WET_GROUND = "wet_ground"
    SNOW = "snow"
    MOTION_BLUR = "motion_blur"
    BEAM_MISSING = "beam_missing"
    CROSSTALK = "crosstalk"
    INCOMPLETE_ECHO = "incomplete_echo"
    CROSS_SENSOR = "cross_sensor"


class Severity(enum.StrEnum):
    """Robo3D's three levels; each corruption maps them to its constants below."""

    LIGHT = "light"
    MODERATE = "moderate"
    HEAVY = "heavy"


# Severity constants, from Robo3D's create/nuscenes_c/<corruption>/ scripts and their comments.
_L, _M, _H = Severity.LIGHT, Severity.MODERATE, Severity.HEAVY
FOG_BETA = {_L: 0.008, _M: 0.05, _H: 0.2}  # backscattering coefficient, 1/sr
WET_GROUND = {_L: (0.0002, 0.2), _M: (0.0010, 0.3), _H: (0.0012, 0.7)}  # water m, noise floor
SNOW = {_L: (0.5, 2.0), _M: (1.0, 1.6), _H: (2.5, 1.6)}  # snowfall mm/h, terminal velocity m/s
MOTION_BLUR_STD_M = {_L: 0.20, _M: 0.25, _H: 0.30}
"""Robo3D's nuScenes script gives 0.2 (its default); moderate / heavy are SemanticKITTI-C's."""
BEAM_MISSING_DRAWS = {_L: 8, _M: 16, _H: 24}  # per 32 beams
CROSSTALK_SHARE = {_L: 0.03, _M: 0.04, _H: 0.05}
"""Robo3D's nuScenes script gives 0.03; moderate / heavy scale it as SemanticKITTI-C's
0.006 / 0.008 / 0.01 (not published for nuScenes)."""
CROSSTALK_NOISE = 3.0  # metres (and 0..255 intensity units) of Gaussian displacement
INCOMPLETE_ECHO_DROP = {_L: 0.75, _M: 0.85, _H: 0.95}
CROSS_SENSOR_STEP = {_L: 4.0, _M: 2.0, _H: 1.33}  # dropped rings: floor(arange(1, 32, step))
SWEEP_PERIOD_S = 0.05
"""One LiDAR revolution (nuScenes LIDAR_TOP spins at 20 Hz), for the rolling-shutter skew."""
_BEAM_COUNTS = (16, 32, 64, 128)


# ------------------------------------------------------------------------------------- record --

@dataclass(frozen=True, eq=False)
class CorruptedScan:
    """A corrupted scan and, per point, the clean row it comes from.

    Attributes:
        points: (M, C) float32 in the LiDAR frame, the input's channels.
        channels: names of the columns, first three ``x, y, z``.
        source: (M,) int64 row of the clean point each output point comes from, -1 = injected
            (fog / snow backscatter, crosstalk); evaluation scores injected points as ignore.
    """

    points: np.ndarray
    channels: tuple[str, ...]
    source: np.ndarray

    def __post_init__(self) -> None:
        points, source = np.asarray(self.points), np.asarray(self.source)
        channels = tuple(self.channels)
        if points.ndim != 2 or points.dtype != np.float32 or points.shape[1] != len(channels):
            raise DatasetError(f"corrupted scan: points must be (M, {len(channels)}) float32 for "
                               f"channels {channels}, got {points.shape} {points.dtype}")
        if channels[:3] != ("x", "y", "z"):
            raise DatasetError(f"corrupted scan: channels {channels} must start with x, y, z")
        if source.shape != (len(points),) or source.dtype != np.int64:
            raise DatasetError(f"corrupted scan: source must be ({len(points)},) int64, got "
                               f"{source.shape} {source.dtype}")
        if source.size and source.min() < -1:
            raise DatasetError("corrupted scan: source rows must be >= -1")
        object.__setattr__(self, "channels", channels)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def injected(self) -> np.ndarray:
        """(M,) bool: points with no clean counterpart."""
        return self.source < 0

    def labels_from(self, clean_labels: np.ndarray) -> np.ndarray:
        """(M,) int64 labels of the corrupted points from the clean scan's; injected -> 0."""
        clean = np.asarray(clean_labels)
        if clean.ndim != 1 or (self.source.size and self.source.max() >= len(clean)):
            top = int(self.source.max()) if self.source.size else -1
            raise DatasetError(f"corrupted scan: {clean.shape} clean labels do not cover its "
                               f"source rows (largest {top})")
        out = np.zeros(len(self.source), dtype=np.int64)
        kept = self.source >= 0
        out[kept] = clean[self.source[kept]]
        return out


# --------------------------------------------------------------------------------- parsing --

def parse_corruptions(value: str) -> tuple[Corruption, ...]:
    """``"fog"``, ``"fog,snow"`` or ``"all"`` (all eight, Robo3D's order) -> corruptions."""
    names = [part.strip() for part in str(value).split(",") if part.strip()]
    if names == ["all"]:
        return tuple(Corruption)
    valid = [c.value for c in Corruption]
    unknown = [name for name in names if name not in valid]
    if unknown or not names:
        raise ConfigError(f"unknown corruption {unknown or value!r}; valid: all, "
                          f"{', '.join(valid)}")
    return tuple(dict.fromkeys(Corruption(name) for name in names))


def _member(kind: type[enum.StrEnum], value: str) -> enum.StrEnum:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"unknown {kind.__name__.lower()} {value!r}; valid: "
                          f"{', '.join(m.value for m in kind)}") from None


def parse_severity(value: Severity | str) -> Severity:
    """A severity from its name; unknown -> ConfigError listing the valid ones."""
    return Severity(_member(Severity, value))


def parse_corruption(value: Corruption | str) -> Corruption:
    """One corruption from its name; unknown -> ConfigError listing the valid ones."""
    return Corruption(_member(Corruption, value))


# ---------------------------------------------------------------------------------- context --

@dataclass(frozen=True, eq=False)
class _Scan:
    points: np.ndarray  # (N, C) float32
    channels: tuple[str, ...]
    corruption: Corruption
    intensity_max: float | None

    @property
    def xyz(self) -> np.ndarray:
        return self.points[:, :3].astype(np.float64)

    def column(self, name: str) -> int:
        if name not in self.channels:
            raise DatasetError(f"{self.corruption.value} needs point channel {name!r}; the scan "
                               f"has {self.channels}")
        return self.channels.index(name)

    def intensity(self) -> tuple[np.ndarray, float]:
        """(N,) intensity normalised to 0..1 and the full scale it was divided by.

        Full scale: ``intensity_max`` when given, else 1.0 for scans whose intensities are all
        <= 1 (KITTI), 255.0 for scans within 0..255 (nuScenes, the synthetic drive), else the
        largest value.
        """
        values = self.points[:, self.column("intensity")].astype(np.float64)
        scale = self.intensity_max
        if scale is None:
            top = float(values.max()) if values.size else 0.0
            scale = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else top
        if scale <= 0:
            raise ConfigError(f"intensity_max must be > 0, got {scale}")
        return np.clip(values / scale, 0.0, 1.0), scale

    def rings(self) -> tuple[np.ndarray, int]:
        """(N,) int64 beam index and the beam count (smallest of 16/32/64/128 that fits)."""
        ring = np.round(self.points[:, self.column("ring")]).astype(np.int64)
        top = int(ring.max()) + 1 if ring.size else 1
        beams = next((b for b in _BEAM_COUNTS if b >= top), top)
        return ring, beams

    def result(self, rows: np.ndarray, points: np.ndarray | None = None,
               injected: np.ndarray | None = None) -> CorruptedScan:
        """Keep ``rows`` (with replaced ``points`` values if given); ``injected`` -> source -1."""
        out = (self.points if points is None else points)[rows].astype(np.float32)
        source = rows.astype(np.int64)
        if injected is not None:
            source = np.where(injected[rows], -1, source)
        return CorruptedScan(out, self.channels, source)


# ------------------------------------------------------------------------------ corruptions --

def _fog(scan: _Scan, severity: Severity, rng: np.random.Generator) -> CorruptedScan:
    """Fog (:func:`.weather.fog`): beta 0.008 / 0.05 / 0.2, alpha drawn per scan."""
    intensity, scale = scan.intensity()
    xyz, value, replaced = weather.fog(scan.xyz, intensity, FOG_BETA[severity], rng)
    points = scan.points.copy()
    points[:, :3] = xyz
    points[:, scan.column("intensity")] = value * scale
    return scan.result(np.arange(len(points)), points, replaced)


def _wet_ground(scan: _Scan, severity: Severity, rng: np.random.Generator) -> CorruptedScan:
    """Wet ground (:func:`.weather.wet_ground`) on the plane-fit ground."""
    intensity, scale = scan.intensity()
    plane = ground.fit_ground_plane(scan.xyz, rng)
    water_m, floor = WET_GROUND[severity]
    value, keep = weather.wet_ground(scan.xyz, intensity, plane,
                                     ground.ground_mask(scan.xyz, plane), water_m, floor)
    points = scan.points.copy()
    points[:, scan.column("intensity")] = value * scale
    return scan.result(np.flatnonzero(keep), points)


def _snow(scan: _Scan, severity: Severity, rng: np.random.Generator) -> CorruptedScan:
    """Snow (:func:`.weather.snow`); the ground plane is fitted before any flake is drawn."""
    intensity, scale = scan.intensity()
    on_ground = ground.ground_mask(scan.xyz, ground.fit_ground_plane(scan.xyz, rng))
    rate, velocity = SNOW[severity]
    xyz, value, keep, replaced = weather.snow(scan.xyz, intensity, rate, velocity, rng,
                                              on_ground)
    points = scan.points.copy()
    points[:, :3] = xyz
    points[:, scan.column("intensity")] = value * scale
    return scan.result(np.flatnonzero(keep), points, replaced)


def _motion_blur(scan: _Scan, severity: Severity, rng: np.random.Generator,
                 velocity_mps: np.ndarray | None = None) -> CorruptedScan:
    """Motion blur (Robo3D ``motion_blur/gen_motion.py``): the whole scan shifted by
    ``N(0, s)`` per axis, then every point jittered by ``N(0, 0.1 s)`` in x, y and
    ``N(0, 0.05 s)`` in z, clipped at +-3 s; s = 0.2 / 0.25 / 0.3 m. Count and order unchanged.

    With ``velocity_mps`` ((3,) ego velocity in the LiDAR frame), also the skew of an
    uncompensated sweep (not in Robo3D): a point fired ``dt`` after azimuth 0 (the +x axis,
    counter-clockwise, one turn per :data:`SWEEP_PERIOD_S`) moves by ``-velocity * dt``.
    """
    s = MOTION_BLUR_STD_M[severity]
    n = len(scan.points)
    shift = rng.standard_normal(3) * s  # drawn for every severity alike: only s scales
    jitter = np.clip(rng.standard_normal((n, 3)) * np.array([0.1, 0.1, 0.05]) * s, -3 * s, 3 * s)
    xyz = scan.xyz + shift + jitter
    if velocity_mps is not None:
        velocity = np.asarray(velocity_mps, np.float64)
        if velocity.shape != (3,) or not np.all(np.isfinite(velocity)):
            raise ConfigError(f"velocity_mps must be 3 finite m/s values, got {velocity_mps!r}")
        azimuth = np.mod(np.arctan2(scan.points[:, 1], scan.points[:, 0]), 2 * np.pi)
        xyz -= velocity * (azimuth / (2 * np.pi) * SWEEP_PERIOD_S)[:, None]
    points = scan.points.copy()
    points[:, :3] = xyz
    return scan.result(np.arange(n), points)


def _beam_missing(scan: _Scan, severity: Severity, rng: np.random.Generator) -> CorruptedScan:
    """Beam missing (Robo3D ``beam_missing/gen_beam_missing.py``): remove whole rings.

    Robo3D draws 8 / 16 / 24 rings (of 32; scaled for other beam counts) from rings 2..28 *with
    replacement*, so on average 7.0 / 12.2 / 16.1 distinct rings go; this keeps that draw, so the
    statistics match the released nuScenes-C. The heavy draws are made for every severity and a
    lighter one uses their first part: a frame's light rings are among its heavy rings.
    """
    ring, beams = scan.rings()
    lo, hi = 2 * beams // 32, beams - 4 * beams // 32  # 2..28 for 32 beams
    draws = rng.integers(lo, hi + 1, size=BEAM_MISSING_DRAWS[_H] * beams // 32)
    dropped = np.unique(draws[:BEAM_MISSING_DRAWS[severity] * beams // 32])
    return scan.result(np.flatnonzero(~np.isin(ring, dropped)))


def _crosstalk(scan: _Scan, severity: Severity, rng: np.random.Generator) -> CorruptedScan:
    """Crosstalk (Robo3D ``crosstalk/gen_crosstalk.py``): a share of the returns (3 / 4 / 5 %)
    comes from another sensor's pulse: those points move by ``N(0, 3 m)`` per axis (intensity by
    ``N(0, 3)`` on the 0..255 scale, clipped to the full scale) and become injected (Robo3D
    labels them 'ignore'). Count and order unchanged; Robo3D moves points, it adds none.
    """
    n = len(scan.points)
    order = rng.permutation(n)  # a lighter severity's points are the first of a heavier's
    noise = rng.standard_normal((n, 4)) * CROSSTALK_NOISE
    chosen = np.zeros(n, bool)
    chosen[order[:int(CROSSTALK_SHARE[severity] * n)]] = True
    points = scan.points.astype(np.float64)
    points[chosen, :3] += noise[chosen, :3]
    if "intensity" in scan.channels:
        column = scan.column("intensity")
        _, scale = scan.intensity()
        value = points[chosen, column] + noise[chosen, 3] * scale / 255.0
        points[chosen, column] = np.clip(value, 0.0, scale)
    return scan.result(np.arange(n), points, chosen)


def _incomplete_echo(scan: _Scan, severity: Severity, rng: np.random.Generator) -> CorruptedScan:
    """Incomplete echo (Robo3D ``incomplete_echo/gen_incomplete_echo.py``): dark vehicle paint
    swallows the pulse, so most vehicle returns go missing.

    Robo3D drops 75 / 85 / 95 % of the points labelled bicycle, bus, car, construction vehicle,
    motorcycle, trailer or truck (a class with > 10 points), at random. Without labels the
    vehicles are :func:`seal_train.scene.ground.vehicle_like_mask` and the share is dropped from
    all of them at once, with darker returns more likely (weights ``1.05 - i``, Gumbel top-k),
    since the missing echoes are the dark surfaces'. Needs intensity. The same per-point keys serve
    every severity, so a lighter severity's dropped points are among a heavier one's.
    """
    intensity, _ = scan.intensity()
    candidates = ground.vehicle_like_mask(scan.xyz, ground.fit_ground_plane(scan.xyz, rng))
    keys = np.log(1.05 - intensity) + rng.gumbel(size=len(intensity))
    where = np.flatnonzero(candidates)
    count = int(len(where) * INCOMPLETE_ECHO_DROP[severity])
    drop = np.zeros(len(intensity), bool)
    drop[where[np.argsort(-keys[where], kind="stable")[:count]]] = True
    return scan.result(np.flatnonzero(~drop))


def _cross_sensor(scan: _Scan, severity: Severity, rng: np.random.Generator) -> CorruptedScan:
    """Cross sensor (Robo3D ``cross_sensor/gen_cross_sensor.py``): a sensor with fewer beams.

    Drop rings ``floor(arange(1, 32, step))`` with step 4 / 2 / 1.33 (light keeps 24 rings,
    moderate the 16 even ones, heavy 8: 0, 5, 9, ..., 29; steps scale for other beam counts),
    then halve the horizontal resolution. Robo3D halves by taking every other row of the file
    (``scan[::2]``), which depends on the file's point order; here every other point of each ring
    in azimuth order is kept. No randomness.
    """
    ring, beams = scan.rings()
    dropped = np.unique(np.arange(1, beams, CROSS_SENSOR_STEP[severity] * beams / 32)
                        .astype(np.int64))
    rows = np.flatnonzero(~np.isin(ring, dropped))
    azimuth = np.arctan2(scan.points[rows, 1], scan.points[rows, 0])
    order = rows[np.lexsort((azimuth, ring[rows]))]
    starts = np.r_[True, ring[order][1:] != ring[order][:-1]] if len(order) else np.zeros(0, bool)
    rank = np.arange(len(order)) - np.flatnonzero(starts)[np.cumsum(starts) - 1]
    return scan.result(np.sort(order[rank % 2 == 0]))


_CORRUPTERS: dict[Corruption, Callable[[_Scan, Severity, np.random.Generator], CorruptedScan]] = {
    Corruption.FOG: _fog, Corruption.WET_GROUND: _wet_ground, Corruption.SNOW: _snow,
    Corruption.MOTION_BLUR: _motion_blur, Corruption.BEAM_MISSING: _beam_missing,
    Corruption.CROSSTALK: _crosstalk, Corruption.INCOMPLETE_ECHO: _incomplete_echo,
    Corruption.CROSS_SENSOR: _cross_sensor,
}


# ---------------------------------------------------------------------------------- entries --

def corrupt_points(points: np.ndarray, channels: tuple[str, ...] | list[str],
                   corruption: Corruption | str, severity: Severity | str,
                   rng: np.random.Generator, *, velocity_mps: np.ndarray | None = None,
                   intensity_max: float | None = None) -> CorruptedScan:
    """Apply one corruption at one severity to a scan.

    Args:
        points: (N, C) float32 in the LiDAR frame (sensor at the origin), columns ``channels``.
        channels: column names, first three ``x, y, z``; beam missing and cross sensor need
            ``ring`` (beam index, 0 = lowest), fog, wet ground, snow and incomplete echo need
            ``intensity`` (DatasetError naming the channel otherwise).
        rng: the only source of randomness (same state -> same output).
        velocity_mps: motion blur only: (3,) ego velocity in the LiDAR frame for the sweep skew.
        intensity_max: full scale of the intensity channel; default from the values (1.0 when
            all are <= 1, 255.0 when all are <= 255, else the largest).

    Returns:
        The corrupted scan (same channels, float32) with each point's clean row.
    """
    corruption, severity = parse_corruption(corruption), parse_severity(severity)
    array = np.asarray(points)
    channels = tuple(channels)
    if array.ndim != 2 or array.shape[1] != len(channels) or channels[:3] != ("x", "y", "z"):
        raise DatasetError(f"{corruption.value}: points {array.shape} with channels {channels}: "
                           f"expected (N, C) columns named by channels, starting x, y, z")
    scan = _Scan(array.astype(np.float32, copy=False), channels, corruption, intensity_max)
    if corruption is Corruption.MOTION_BLUR:
        return _motion_blur(scan, severity, rng, velocity_mps)
    return _CORRUPTERS[corruption](scan, severity, rng)


def stream_seed(frame_id: str, corruption: Corruption | str,
                seed: int = 0) -> np.random.SeedSequence:
    """Seed of a frame's corruption stream: a stable hash (BLAKE2b) of the frame id and the
    corruption, with ``seed``. The severity is not part of it, so the three severities of a frame
    share their draws (same fog alpha and ground fit; nested drops where the definition allows).
    """
    if int(seed) < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    text = f"{frame_id}\0{parse_corruption(corruption).value}".encode()
    digest = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")
    return np.random.SeedSequence([digest, int(seed)])


def corrupt_frame(frame: Frame, corruption: Corruption | str, severity: Severity | str,
                  seed: int = 0) -> CorruptedScan:
    """:func:`corrupt_points` on a frame's points, deterministic per (frame id, corruption,
    severity, seed) (:func:`stream_seed`)."""
    rng = np.random.default_rng(stream_seed(frame.frame_id, corruption, seed))
    return corrupt_points(frame.points, frame.channels, corruption, severity, rng)
