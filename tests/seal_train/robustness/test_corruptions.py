"""The eight nuScenes-C corruptions: each one's defining property on a synthetic-drive scan,
determinism, severity order, channel checks and the label mapping."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from seal_ros.errors import ConfigError, DatasetError
from seal_train.robustness import (
    CorruptedScan,
    Corruption,
    Severity,
    corrupt_frame,
    corrupt_points,
    parse_corruptions,
    parse_severity,
    stream_seed,
    weather,
)
from seal_train.robustness import corruptions as C
from seal_train.scene import ground
from seal_train.sources.frame import Frame
from seal_train.synth import SynthConfig, generate_scene

FLAT = (11, 12, 13, 14)  # driveable_surface, other_flat, sidewalk, terrain
VEHICLES = (2, 3, 4, 5, 6, 9, 10)  # bicycle, bus, car, construction, motorcycle, trailer, truck
LEVELS = tuple(Severity)


@pytest.fixture(scope="module")
def frame() -> Frame:
    """One synthetic-drive scan: 32 beams x 1088 steps, ~33k points, intensity 0..255."""
    scene = generate_scene(SynthConfig(scenes=1, frames=1, image_width=64, image_height=36), 0)
    return scene.frames[0].frame


def _kept(scan: CorruptedScan, n: int) -> np.ndarray:
    kept = np.zeros(n, bool)
    kept[scan.source[scan.source >= 0]] = True
    return kept


def _ring(points: np.ndarray) -> np.ndarray:
    return np.round(points[:, 4]).astype(np.int64)


# ------------------------------------------------------------------------------ registry, rng --

def test_parse_corruptions_all_in_robo3d_order_and_errors() -> None:
    assert parse_corruptions("all") == tuple(Corruption)
    assert [c.value for c in parse_corruptions("all")] == [
        "fog", "wet_ground", "snow", "motion_blur", "beam_missing", "crosstalk",
        "incomplete_echo", "cross_sensor"]
    assert parse_corruptions("fog") == (Corruption.FOG,)
    assert parse_corruptions(" snow, fog ,snow") == (Corruption.SNOW, Corruption.FOG)
    with pytest.raises(ConfigError, match=r"'rain'.*valid: all, fog, wet_ground, snow"):
        parse_corruptions("fog,rain")
    with pytest.raises(ConfigError, match="valid"):
        parse_corruptions("")
    assert parse_severity("heavy") is Severity.HEAVY
    with pytest.raises(ConfigError, match="light, moderate, heavy"):
        parse_severity("extreme")


def test_stream_seed_is_a_stable_hash_not_python_hash() -> None:
    digest = hashlib.blake2b(b"scene-0001/000003\0snow", digest_size=8).digest()
    assert stream_seed("scene-0001/000003", "snow", 7).entropy == [
        int.from_bytes(digest, "little"), 7]
    assert stream_seed("a", "fog").entropy != stream_seed("b", "fog").entropy
    with pytest.raises(ConfigError, match="seed"):
        stream_seed("a", "fog", -1)


@pytest.mark.parametrize("corruption", list(Corruption))
def test_same_seed_same_scan_other_seed_other_scan(frame: Frame, corruption: Corruption) -> None:
    a = corrupt_frame(frame, corruption, "moderate", seed=3)
    b = corrupt_frame(frame, corruption, "moderate", seed=3)
    assert a.points.dtype == np.float32 and a.channels == frame.channels
    assert np.array_equal(a.points, b.points) and np.array_equal(a.source, b.source)
    assert a.source.max() < len(frame.points) and a.source.min() >= -1
    other = corrupt_frame(frame, corruption, "moderate", seed=4)
    same = other.points.shape == a.points.shape and np.array_equal(other.points, a.points)
    # cross sensor has no chance; wet ground's only chance is the RANSAC ground fit, which
    # settles on the same least-squares plane for the drive's flat road
    assert same == (corruption in (Corruption.CROSS_SENSOR, Corruption.WET_GROUND))


@pytest.mark.parametrize("corruption", list(Corruption))
def test_empty_scan_stays_empty(corruption: Corruption) -> None:
    empty = np.zeros((0, 5), np.float32)
    out = corrupt_points(empty, ("x", "y", "z", "intensity", "ring"), corruption, "heavy",
                         np.random.default_rng(0))
    assert out.points.shape == (0, 5) and out.source.shape == (0,)


@pytest.mark.parametrize(("corruption", "channel"), [
    ("beam_missing", "ring"), ("cross_sensor", "ring"), ("fog", "intensity"),
    ("wet_ground", "intensity"), ("snow", "intensity"), ("incomplete_echo", "intensity")])
def test_missing_channel_is_a_dataset_error_naming_it(frame: Frame, corruption: str,
                                                      channel: str) -> None:
    keep = [i for i, name in enumerate(frame.channels) if name != channel]
    channels = tuple(frame.channels[i] for i in keep)
    with pytest.raises(DatasetError, match=rf"{corruption} needs point channel '{channel}'.*"
                                           rf"has \('x', 'y', 'z'"):
        corrupt_points(frame.points[:, keep], channels, corruption, "light",
                       np.random.default_rng(0))


def test_labels_from_maps_injected_to_ignore() -> None:
    scan = CorruptedScan(np.zeros((4, 3), np.float32), ("x", "y", "z"),
                         np.array([2, -1, 0, 2], np.int64))
    assert scan.labels_from(np.array([5, 6, 7])).tolist() == [7, 0, 5, 7]
    assert scan.injected.tolist() == [False, True, False, False]
    with pytest.raises(DatasetError, match="do not cover"):
        scan.labels_from(np.array([5, 6]))
    with pytest.raises(DatasetError, match="int64"):
        CorruptedScan(np.zeros((1, 3), np.float32), ("x", "y", "z"), np.zeros(1, np.int32))


@pytest.mark.parametrize("corruption", ["fog", "wet_ground", "snow", "incomplete_echo"])
def test_intensity_corruptions_are_scale_aware(frame: Frame, corruption: str) -> None:
    """The same scan with intensities 0..1 gives the same corruption, scaled."""
    column = frame.channels.index("intensity")
    unit = frame.points.copy()
    unit[:, column] /= 255.0
    a = corrupt_points(frame.points, frame.channels, corruption, "heavy", np.random.default_rng(1))
    b = corrupt_points(unit, frame.channels, corruption, "heavy", np.random.default_rng(1))
    assert np.array_equal(a.source, b.source)
    assert np.allclose(a.points[:, column] / 255.0, b.points[:, column], atol=1e-5)
    c = corrupt_points(unit, frame.channels, corruption, "heavy", np.random.default_rng(1),
                       intensity_max=1.0)
    assert np.array_equal(c.source, b.source)


# --------------------------------------------------------------------------- the corruptions --

def test_beam_missing_removes_whole_rings_nested_by_severity(frame: Frame) -> None:
    ring = _ring(frame.points)
    dropped = {}
    for level in LEVELS:
        scan = corrupt_frame(frame, "beam_missing", level, seed=2)
        kept_rings = set(_ring(scan.points).tolist())
        gone = set(ring.tolist()) - kept_rings
        assert gone <= set(range(2, 29)) and 0 < len(gone) <= C.BEAM_MISSING_DRAWS[level]
        for r in kept_rings:  # whole rings: every point of a kept ring survives, unchanged
            assert (_ring(scan.points) == r).sum() == (ring == r).sum()
        assert np.array_equal(scan.points, frame.points[scan.source])
        dropped[level] = gone
    assert dropped[Severity.LIGHT] <= dropped[Severity.MODERATE] <= dropped[Severity.HEAVY]


def test_beam_missing_draws_like_robo3d_with_replacement() -> None:
    """8 / 16 / 24 draws from rings 2..28 with replacement: 27 (1 - (26/27)^k) distinct."""
    points = np.zeros((32, 5), np.float32)
    points[:, 0], points[:, 4] = 5.0, np.arange(32)
    channels = ("x", "y", "z", "intensity", "ring")
    for level, draws in C.BEAM_MISSING_DRAWS.items():
        counts = [32 - len(corrupt_points(points, channels, "beam_missing", level,
                                          np.random.default_rng(s))) for s in range(300)]
        assert np.mean(counts) == pytest.approx(27 * (1 - (26 / 27) ** draws), abs=0.4)


def test_cross_sensor_keeps_robo3d_rings_and_every_other_point(frame: Frame) -> None:
    ring = _ring(frame.points)
    expected = {Severity.LIGHT: set(range(32)) - set(range(1, 32, 4)),
                Severity.MODERATE: set(range(0, 32, 2)),
                Severity.HEAVY: {0, 5, 9, 13, 17, 21, 25, 29}}
    for level in LEVELS:
        scan = corrupt_frame(frame, "cross_sensor", level)
        out_ring = _ring(scan.points)
        assert set(out_ring.tolist()) == expected[level]
        assert np.array_equal(scan.points, frame.points[scan.source])
        for r in expected[level]:
            rows = np.flatnonzero(ring == r)
            azimuth = np.arctan2(frame.points[rows, 1], frame.points[rows, 0])
            every_other = np.sort(rows[np.argsort(azimuth, kind="stable")][::2])
            assert np.array_equal(np.sort(scan.source[out_ring == r]), every_other)


def test_crosstalk_turns_the_stated_share_into_noise(frame: Frame) -> None:
    n = len(frame.points)
    injected = {}
    for level in LEVELS:
        scan = corrupt_frame(frame, "crosstalk", level, seed=5)
        assert len(scan) == n and int(scan.injected.sum()) == int(C.CROSSTALK_SHARE[level] * n)
        clean = ~scan.injected
        assert np.array_equal(scan.points[clean], frame.points[clean])
        assert np.array_equal(scan.source[clean], np.flatnonzero(clean))
        moved = np.linalg.norm(scan.points[scan.injected, :3] - frame.points[scan.injected, :3],
                               axis=1)
        assert np.mean(moved) == pytest.approx(3.0 * 1.596, rel=0.1)  # chi(3) mean x 3 m
        assert np.array_equal(scan.points[:, 4], frame.points[:, 4])  # ring untouched
        assert scan.labels_from(frame.train_labels())[scan.injected].max() == 0
        injected[level] = set(np.flatnonzero(scan.injected).tolist())
    assert injected[Severity.LIGHT] <= injected[Severity.MODERATE] <= injected[Severity.HEAVY]


def test_motion_blur_jitter_grows_with_severity_count_unchanged(frame: Frame) -> None:
    shift = {}
    for level in LEVELS:
        scan = corrupt_frame(frame, "motion_blur", level, seed=1)
        assert np.array_equal(scan.source, np.arange(len(frame.points)))
        shift[level] = scan.points[:, :3].astype(np.float64) - frame.points[:, :3]
        s = C.MOTION_BLUR_STD_M[level]
        jitter = shift[level] - shift[level].mean(axis=0)
        assert jitter.std(axis=0) == pytest.approx([0.1 * s, 0.1 * s, 0.05 * s], rel=0.05)
        assert np.array_equal(scan.points[:, 3:], frame.points[:, 3:])
    # shared draws: heavier severities are the same blur, scaled
    assert np.allclose(shift[Severity.HEAVY], 1.5 * shift[Severity.LIGHT], atol=1e-5)
    assert np.allclose(shift[Severity.MODERATE], 1.25 * shift[Severity.LIGHT], atol=1e-5)


def test_motion_blur_sweep_skew_from_velocity(frame: Frame) -> None:
    v = np.array([0.0, 10.0, 0.0])
    a = corrupt_points(frame.points, frame.channels, "motion_blur", "light",
                       np.random.default_rng(0))
    b = corrupt_points(frame.points, frame.channels, "motion_blur", "light",
                       np.random.default_rng(0), velocity_mps=v)
    azimuth = np.mod(np.arctan2(frame.points[:, 1], frame.points[:, 0]), 2 * np.pi)
    expected = -v[1] * azimuth / (2 * np.pi) * C.SWEEP_PERIOD_S
    assert np.allclose(b.points[:, 1] - a.points[:, 1], expected, atol=1e-4)
    assert np.array_equal(a.points[:, [0, 2]], b.points[:, [0, 2]])
    with pytest.raises(ConfigError, match="velocity_mps"):
        corrupt_points(frame.points, frame.channels, "motion_blur", "light",
                       np.random.default_rng(0), velocity_mps=np.array([1.0, np.nan, 0.0]))


def test_incomplete_echo_drops_the_share_of_vehicle_like_darker_returns(frame: Frame) -> None:
    labels = frame.train_labels()
    xyz = frame.points[:, :3].astype(np.float64)
    dropped = {}
    for level in LEVELS:
        scan = corrupt_frame(frame, "incomplete_echo", level, seed=0)
        rng = np.random.default_rng(stream_seed(frame.frame_id, "incomplete_echo", 0))
        candidates = ground.vehicle_like_mask(xyz, ground.fit_ground_plane(xyz, rng))
        gone = ~_kept(scan, len(labels))
        assert not (gone & ~candidates).any()  # only vehicle-like points go
        assert gone.sum() == int(candidates.sum() * C.INCOMPLETE_ECHO_DROP[level])
        assert np.isin(labels[gone], VEHICLES).mean() > 0.9  # the estimate finds vehicles
        dropped[level] = gone
    cars = labels == 4
    assert dropped[Severity.LIGHT][cars].mean() > 0.6
    # darker returns go first: candidates made half dark, half bright
    rng = np.random.default_rng(stream_seed(frame.frame_id, "incomplete_echo", 0))
    candidates = ground.vehicle_like_mask(xyz, ground.fit_ground_plane(xyz, rng))
    painted = frame.points.copy()
    dark = candidates & (np.arange(len(labels)) % 2 == 0)
    painted[candidates, 3] = np.where(dark[candidates], 10.0, 240.0)
    scan = corrupt_points(painted, frame.channels, "incomplete_echo", "light",
                          np.random.default_rng(stream_seed(frame.frame_id, "incomplete_echo")))
    gone = ~_kept(scan, len(labels))
    assert gone[dark].mean() > gone[candidates & ~dark].mean() + 0.3
    assert not (dropped[Severity.LIGHT] & ~dropped[Severity.MODERATE]).any()
    assert not (dropped[Severity.MODERATE] & ~dropped[Severity.HEAVY]).any()


def test_fog_keeps_near_returns_and_replaces_far_ones_with_backscatter(frame: Frame) -> None:
    xyz = frame.points[:, :3].astype(np.float64)
    intensity = frame.points[:, 3] / 255.0
    r = np.linalg.norm(xyz, axis=1)
    lit = intensity >= 0.2  # 8-bit rounding of darker returns blurs the visibility edge
    far_kept = []
    for beta in (0.008, 0.05, 0.2):
        out, value, replaced = weather.fog(xyz, intensity, beta, np.random.default_rng(0),
                                           alpha=0.02)
        assert np.array_equal(out[~replaced], xyz[~replaced])  # kept returns do not move
        assert (value[~replaced] <= intensity[~replaced] + 1e-9).all()  # attenuated
        if replaced.any():  # a visibility distance: beyond it every return is fog
            assert r[replaced & lit].min() > r[~replaced & lit].max() - 1.0
            assert np.linalg.norm(out[replaced], axis=1).max() < 10.0  # backscatter is near
        far_kept.append(int((~replaced & (r > 15)).sum()))
    assert far_kept[0] > far_kept[1] > far_kept[2]
    counts = []
    for level in LEVELS:  # on the frame: same alpha for all three severities
        scan = corrupt_frame(frame, "fog", level, seed=0)
        assert len(scan) == len(frame.points)
        assert np.array_equal(scan.source[~scan.injected], np.flatnonzero(~scan.injected))
        counts.append(int(scan.injected.sum()))
    assert 0 < counts[0] < counts[1] < counts[2]


def test_snow_adds_near_returns_attenuates_and_drops_weak_ones(frame: Frame) -> None:
    xyz = frame.points[:, :3].astype(np.float64)
    intensity = frame.points[:, 3] / 255.0
    r = np.linalg.norm(xyz, axis=1)
    mask = ground.ground_mask(xyz, ground.fit_ground_plane(xyz, np.random.default_rng(0)))
    out, value, keep, replaced = weather.snow(xyz, intensity, 2.5, 1.6, np.random.default_rng(0),
                                              mask)
    assert replaced.sum() > 20
    snow_range = np.linalg.norm(out[replaced], axis=1)
    assert np.median(snow_range) < 5.0 and (snow_range < r[replaced]).all()
    target = ~replaced
    assert np.array_equal(out[target], xyz[target])
    assert (value[target] <= intensity[target] + 1e-12).all()
    assert (value[target] < intensity[target] - 1e-9).sum() > 1000  # flakes attenuate beams
    floor = weather.noise_floor(r, intensity, mask, weather.SNOW_NOISE_FLOOR)
    assert floor is not None
    assert ((~keep) == (target & (value <= floor))).all()  # lost: below the noise floor
    injected = {level: sum(int(corrupt_frame(frame, "snow", level, seed=s).injected.sum())
                           for s in range(3)) for level in LEVELS}
    assert injected[Severity.LIGHT] < injected[Severity.HEAVY]


def test_wet_ground_darkens_and_drops_ground_only(frame: Frame) -> None:
    labels = frame.train_labels()
    xyz = frame.points[:, :3].astype(np.float64)
    plane = ground.fit_ground_plane(xyz, np.random.default_rng(0))
    assert plane is not None  # the drive's road is z = -1.84 m in the LiDAR frame
    assert plane.normal[2] > 0.999 and plane.offset == pytest.approx(1.84, abs=0.03)
    high = np.abs(plane.height(xyz)) > 2 * ground.GROUND_BAND_M
    flat = np.isin(labels, FLAT)
    lost = []
    for level in LEVELS:
        scan = corrupt_frame(frame, "wet_ground", level, seed=0)
        kept = _kept(scan, len(labels))
        assert kept[high].all()  # non-ground points are untouched
        rows = scan.source[high[scan.source]]
        assert np.array_equal(scan.points[high[scan.source]], frame.points[rows])
        assert (scan.points[:, 3] <= frame.points[scan.source, 3]).all()  # never brighter
        gone = ~kept
        assert gone.sum() == 0 or flat[gone].mean() > 0.95
        lost.append(int(gone.sum()))
    assert lost[0] < lost[1] < lost[2] and lost[2] > 0.3 * flat.sum()
