"""The physics-based nuScenes-C corruptions: fog, snow and wet ground.

Everything here works on plain arrays in the LiDAR frame (sensor at the origin): ``xyz`` (N, 3)
metres and ``intensity`` (N,) *normalised* to 0..1 of the sensor's full scale (the caller divides
by its ``intensity_max``). Functions return new arrays and masks; :mod:`.corruptions` turns them
into :class:`~.corruptions.CorruptedScan` records. All loops are over a handful of iterations, never
over points.

Sources (read, not copied): Robo3D ``ldkong1205/Robo3D`` ``create/nuscenes_c/fog/fog_simulation.py``
(after Hahner et al., "Fog Simulation on Real LiDAR Point Clouds for 3D Object Detection in Adverse
Weather", ICCV 2021, ``MartinHahner/LiDAR_fog_sim`` ``theory.py``),
``create/nuscenes_c/snow/{simulation,sampling}.py`` (Hahner et al., "LiDAR Snowfall Simulation for
Robust 3D Object Detection", CVPR 2022) and ``create/nuscenes_c/wet_ground/{augmentation,
phy_equations,planes}.py`` (the wet-ground model of the same paper, by M. Bijelic).
"""

from __future__ import annotations

import functools

import numpy as np

from seal_train.scene.ground import GroundPlane

SPEED_OF_LIGHT_MPS = 299_792_458.0
MIN_GROUND_POINTS = 1000
"""Robo3D's wet ground leaves a scan untouched when it has fewer ground points than this."""


def _ground_return_fit(distance: np.ndarray, value: np.ndarray) -> tuple[float, float]:
    """Least-squares line ``value ~ slope * distance + intercept`` (Robo3D's ``linregress``)."""
    if len(distance) < 2 or np.ptp(distance) == 0:
        return 0.0, float(value.mean()) if len(value) else 0.0
    slope, intercept = np.polyfit(distance, value, 1)
    return float(slope), float(intercept)


def _xi(r: np.ndarray, r1: float = 0.9, r2: float = 1.0) -> np.ndarray:
    """Transmitter / receiver field-of-view overlap: 0 up to ``r1``, linear to 1 at ``r2``."""
    return np.clip((r - r1) / (r2 - r1), 0.0, 1.0)


# ---------------------------------------------------------------------------------------- fog --

FOG_ALPHAS = (0.0, 0.005, 0.01, 0.02, 0.03, 0.06)
"""Attenuation coefficients (1/m) Robo3D draws from, uniformly, once per scan (any severity)."""
FOG_TAU_H_S = 2e-8
"""Half-power pulse width of the fog model (its lookup tables are for 20 ns)."""
FOG_GAMMA = 1e-6
"""Hard-target reflectivity Robo3D passes; beta_0 = gamma / pi."""
FOG_RANGE_NOISE_M = 10.0
"""Robo3D's range noise of a backscatter return ('v1': uniform +-10 m around the target range)."""
_FOG_TABLE_M = 200.0  # lookup table 0..200 m in 0.1 m steps, as Robo3D's pickles


@functools.lru_cache(maxsize=8)
def _fog_table(alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per target range r0 (0.1 m grid): range and value of the strongest fog (soft) response.

    The soft-target return at receiver range R is Hahner's integral over the pulse,
    ``int_0^{2 tau_h} sin^2(pi t / 2 tau_h) exp(-2 alpha u) xi(u) / u^2 dt`` with
    ``u = R - c t / 2`` (scattering volume at range u), for R <= r0 (Robo3D's table generator
    skips R > r0). Its running maximum over R <= r0 gives the table.
    """
    R = np.arange(int(round(_FOG_TABLE_M * 10)) + 1) * 0.1  # (G,)
    t = np.linspace(0.0, 2.0 * FOG_TAU_H_S, 201)  # (T,)
    u = R[:, None] - SPEED_OF_LIGHT_MPS * t[None, :] / 2.0  # (G, T)
    safe = np.where(u > 0.9, u, 1.0)
    integrand = np.where(u > 0.9, np.sin(np.pi * t / (2 * FOG_TAU_H_S)) ** 2
                         * np.exp(-2.0 * alpha * safe) * _xi(safe) / safe ** 2, 0.0)
    response = (integrand[:, 1:] + integrand[:, :-1]).sum(axis=1) * (t[1] - t[0]) / 2.0  # (G,)
    best = np.maximum.accumulate(response)
    index = np.maximum.accumulate(np.where(response >= best, np.arange(len(R)), 0))
    return R[index], best


def fog(xyz: np.ndarray, intensity: np.ndarray, beta: float, rng: np.random.Generator,
        alpha: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hahner's fog on a clear-weather scan: attenuate every return, replace the far ones by
    backscatter from the fog near the sensor.

    Per point at range r0 with intensity i: the hard-target return becomes
    ``round(exp(-2 alpha r0) i)`` (8-bit quantised); the soft (fog) return is
    ``I(r0) i r0^2 beta / beta_0`` at the range of the fog response peak (:func:`_fog_table`,
    ~4.6 m). Where the fog return is stronger, the point is *replaced* by a fog point on the same
    ray at that range times ``r0 / U(r0 - 10, r0 + 10)`` (Robo3D's noise 'v1'), with the fog
    return as intensity. So fog keeps the returns within a visibility distance (shorter for
    larger ``beta`` / ``alpha``) and turns the farther ones into clutter around the ego; the point
    count is unchanged (as in nuScenes-C, which labels the replaced points 'ignore').

    Differences from Robo3D: the lookup table is computed here (same integral, 201-point trapezoid
    instead of a 2000-point Simpson rule); the noisy range denominator is kept >= r0 / 2 (Robo3D's
    can reach zero or turn negative for r0 < 10 m, flinging points far away or through the
    sensor); fog intensities are clipped to full scale.

    Args:
        xyz: (N, 3) metres; intensity: (N,) normalised 0..1.
        beta: backscattering coefficient (1/sr): 0.008 / 0.05 / 0.2 for light / moderate / heavy.
        rng: draws ``alpha`` (when not given) first, then one uniform per point.
        alpha: attenuation coefficient (1/m); default one of :data:`FOG_ALPHAS` at random.

    Returns:
        xyz (N, 3) float64, intensity (N,) float64 normalised, replaced (N,) bool.
    """
    if alpha is None:
        alpha = float(FOG_ALPHAS[int(rng.integers(len(FOG_ALPHAS)))])
    xyz = np.asarray(xyz, np.float64)
    r0 = np.linalg.norm(xyz, axis=1)
    noise = rng.uniform(-1.0, 1.0, len(xyz))
    hard = np.round(np.exp(-2.0 * alpha * r0) * intensity * 255.0) / 255.0
    fog_range, fog_integral = _fog_table(round(alpha, 6))
    key = np.clip(np.round(r0 * 10.0).astype(np.int64), 0, len(fog_range) - 1)
    beta_0 = FOG_GAMMA / np.pi
    soft = fog_integral[key] * intensity * r0 ** 2 * beta / beta_0
    replaced = soft > hard
    denominator = np.maximum(r0 + FOG_RANGE_NOISE_M * noise, r0 / 2.0)
    scale = np.where(replaced, fog_range[key] / np.maximum(denominator, 1e-9), 1.0)
    out = xyz * scale[:, None]
    return out, np.where(replaced, np.minimum(soft, 1.0), hard), replaced


# --------------------------------------------------------------------------------------- snow --

SNOW_BEAM_DIVERGENCE_RAD = 0.003
"""Total opening angle of one beam in the snow model (Robo3D's nuScenes-C run)."""
SNOW_NOISE_FLOOR = 0.7
"""Detection threshold as a share of the typical ground return at the same range."""
SNOWFLAKE_REFLECTIVITY = 0.9
SNOWFLAKE_MAX_DIAMETER_M = 0.02
SNOW_DENSITY_G_CM3 = 0.1
SNOWFLAKE_DIAMETER_M = 0.003  # only in the snowfall -> equivalent rainfall rate conversion


def snow_occupancy(snowfall_rate_mmh: float, terminal_velocity_mps: float) -> float:
    """Share of space filled with snow (water density 1 g/cm^3, snow density 0.1 g/cm^3)."""
    return snowfall_rate_mmh / (3.6e6 * SNOW_DENSITY_G_CM3 * terminal_velocity_mps)


def snow_rainfall_rate(snowfall_rate_mmh: float, terminal_velocity_mps: float) -> float:
    """Equivalent rainfall rate in mm/h, which sets the Gunn-Marshall flake size distribution."""
    base = snowfall_rate_mmh / (487.0 * SNOW_DENSITY_G_CM3 * SNOWFLAKE_DIAMETER_M
                                * terminal_velocity_mps)
    return float(np.sqrt(base ** 3))


def _first_per_group(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Indices of the row with the largest ``key`` in each run of equal ``group`` values."""
    order = np.lexsort((-key, group))
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    return order[first]


def noise_floor(distance: np.ndarray, intensity: np.ndarray, ground: np.ndarray,
                share: float) -> np.ndarray | None:
    """(N,) detection threshold: ``share`` x the typical ground return at each point's range.

    The typical return is a least-squares quadratic in range fitted to the ground points (the
    role of Hahner's laser-parameter estimate), evaluated within the ground's range span and
    clipped at 0. ``None`` when there are fewer than :data:`MIN_GROUND_POINTS` ground points.
    """
    if int(ground.sum()) < MIN_GROUND_POINTS:
        return None
    d, value = distance[ground], intensity[ground]
    coef = np.polyfit(d, value, 2)
    return share * np.maximum(np.polyval(coef, np.clip(distance, d.min(), d.max())), 0.0)


def snow(xyz: np.ndarray, intensity: np.ndarray, snowfall_rate_mmh: float,
         terminal_velocity_mps: float, rng: np.random.Generator, ground: np.ndarray,
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hahner's snowfall: flakes in each beam's path occlude it and may return the echo instead.

    Each beam is a wedge of :data:`SNOW_BEAM_DIVERGENCE_RAD` in its scan plane; snowflakes are
    disks in that plane (sphere cross-sections) with Gunn-Marshall exponential diameters
    (rate ``25.5 R^-0.48`` per cm for the equivalent rainfall rate ``R``, at most 2 cm), filling
    the plane's area at the snow's occupancy. A flake covering a share ``o`` of a beam returns
    ``0.9 o xi(rho) / rho^2`` (90 % reflectivity, not range-normalised) and leaves ``1 - o`` for
    what lies behind; the target returns ``i x`` its unoccluded share. The strongest echo wins:
    a flake replaces the point (moved to the flake's range, its echo as intensity), otherwise the
    target is kept, attenuated. Finally non-replaced returns below :func:`noise_floor`
    (:data:`SNOW_NOISE_FLOOR`) are lost, as in Robo3D (which drops them whether or not a flake
    hit them).

    Simplified (defining property kept: occlusion by discrete flakes nearer than the target, snow
    echoes near the sensor, weak returns lost): flakes are sampled per beam as a Poisson process
    in that beam's wedge (exact when neighbouring beams do not overlap, i.e. azimuth step >=
    divergence, true for nuScenes' 32 x ~1090 grid) instead of one disk field per channel
    rejection-sampled for no overlap; occlusion by several flakes multiplies independent
    transmissions instead of splitting the wedge into exact angular intervals; the strongest
    single echo wins instead of the peak of the summed pulse profile; the HDL-64 focal-distance
    intensity correction is left out; the ground for the noise floor comes from a plane fit, not
    labels. Beams with no target (sky) get no snow echo, as in Hahner's model.

    Args:
        xyz: (N, 3) metres; intensity: (N,) normalised 0..1; ground: (N,) bool ground mask.
        snowfall_rate_mmh, terminal_velocity_mps: light 0.5, 2.0; moderate 1.0, 1.6; heavy 2.5,
            1.6 (Robo3D).

    Returns:
        xyz (N, 3) float64, intensity (N,) float64, keep (N,) bool, replaced (N,) bool.
    """
    xyz = np.asarray(xyz, np.float64)
    intensity = np.asarray(intensity, np.float64)
    n = len(xyz)
    r = np.linalg.norm(xyz, axis=1)
    delta, a_cap = SNOW_BEAM_DIVERGENCE_RAD, SNOWFLAKE_MAX_DIAMETER_M / 2.0
    rain = snow_rainfall_rate(snowfall_rate_mmh, terminal_velocity_mps)
    scale_m = 1e-2 / (25.5 * rain ** -0.48)  # mean diameter: 1 / rate, cm -> m
    mean_disk_area = np.pi * 2.0 * scale_m ** 2 / 6.0  # E[pi a^2], a^2 = d^2/4 - h^2, h ~ U
    density = snow_occupancy(snowfall_rate_mmh, terminal_velocity_mps) / mean_disk_area  # 1/m^2

    # flake centres that can touch the wedge: angle within delta/2 + a_cap/rho of the beam axis
    near_part, margin_part = delta * r ** 2 / 2.0, 2.0 * a_cap * r
    count = rng.poisson(density * (near_part + margin_part))
    owner = np.repeat(np.arange(n), count)  # (K,) beam of each candidate flake
    k = len(owner)
    in_near = rng.random(k) * (near_part + margin_part)[owner] < near_part[owner]
    v = rng.random(k)
    rho = np.where(in_near, r[owner] * np.sqrt(v), r[owner] * v)  # area density delta*rho + 2a
    rho = np.maximum(rho, 1e-3)
    phi = rng.uniform(-1.0, 1.0, k) * (delta / 2.0 + a_cap / rho)
    u = rng.random(k)
    diameter = -scale_m * np.log1p(-u * (1.0 - np.exp(-SNOWFLAKE_MAX_DIAMETER_M / scale_m)))
    h = rng.uniform(-0.5, 0.5, k) * diameter
    radius = np.sqrt(np.maximum((diameter / 2.0) ** 2 - h ** 2, 0.0))
    half_angle = np.arcsin(np.clip(radius / rho, 0.0, 1.0))
    overlap = np.clip(np.minimum(phi + half_angle, delta / 2.0)
                      - np.maximum(phi - half_angle, -delta / 2.0), 0.0, None) / delta
    hit = (overlap > 0) & (rho > radius)
    owner, rho, overlap = owner[hit], rho[hit], np.minimum(overlap[hit], 1.0 - 1e-9)

    # nearest flakes occlude first: share of flake j = o_j * prod_{nearer} (1 - o)
    order = np.lexsort((rho, owner))
    owner, rho, overlap = owner[order], rho[order], overlap[order]
    log_t = np.log1p(-overlap)
    before = np.cumsum(log_t) - log_t  # inclusive -> exclusive
    starts = np.r_[True, owner[1:] != owner[:-1]] if len(owner) else np.zeros(0, bool)
    group = np.cumsum(starts) - 1
    before -= before[np.flatnonzero(starts)][group]
    flake_power = SNOWFLAKE_REFLECTIVITY * overlap * np.exp(before) * _xi(rho) / rho ** 2
    target_power = intensity * np.exp(np.bincount(owner, weights=log_t, minlength=n))

    best_power, best_rho = np.zeros(n), np.zeros(n)
    if len(owner):
        best = _first_per_group(owner, flake_power)
        best_power[owner[best]], best_rho[owner[best]] = flake_power[best], rho[best]
    replaced = best_power > target_power
    scale = np.where(replaced, best_rho / np.maximum(r, 1e-9), 1.0)
    out_intensity = np.where(replaced, np.minimum(best_power, 1.0), target_power)
    floor = noise_floor(r, intensity, ground, SNOW_NOISE_FLOOR)
    keep = replaced | (out_intensity > floor) if floor is not None else np.ones(n, bool)
    return xyz * scale[:, None], out_intensity, keep, replaced


# --------------------------------------------------------------------------------- wet ground --

WET_PAVEMENT_DEPTH_M = 0.0012
"""Texture depth of the road; water this deep or deeper makes the surface a mirror."""
WET_POWER_FACTOR = 15.0
"""Emitted power relative to the (fitted) ground return, Robo3D's ``power_factor``."""
REFRACTIVE_INDEX_AIR, REFRACTIVE_INDEX_WATER = 1.0003, 1.33


def fresnel_power(theta_in: np.ndarray, n1: float, n2: float,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Power reflectance / transmittance (s, p) of an n1 -> n2 interface, and the refracted angle.

    Returns ``(R_s, T_s, R_p, T_p, theta_out)``; ``T = t^2 n2 cos(out) / (n1 cos(in))`` with the
    amplitude coefficients ``t`` (Robo3D ``phy_equations.py`` ``frenel_equations_power``).
    """
    theta_out = np.arcsin(np.clip(np.sin(theta_in) * n1 / n2, -1.0, 1.0))
    ci, co = np.cos(theta_in), np.cos(theta_out)
    rs = (n1 * ci - n2 * co) / (n1 * ci + n2 * co)
    rp = (n2 * ci - n1 * co) / (n2 * ci + n1 * co)
    ts = 2.0 * n1 * ci / (n1 * ci + n2 * co)
    tp = 2.0 * n1 * ci / (n2 * ci + n1 * co)
    power = n2 * co / np.maximum(n1 * ci, 1e-12)
    return rs ** 2, ts ** 2 * power, rp ** 2, tp ** 2 * power, theta_out


def wet_ground(xyz: np.ndarray, intensity: np.ndarray, plane: GroundPlane | None,
               ground: np.ndarray, water_height_m: float, noise_floor_share: float,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Bijelic's wet-ground model: a water film turns the road into a partial mirror.

    On ground points (incidence ``theta`` from the plane normal): the emitted power ``E`` is
    ``15 x`` a line fitted to the ground's incidence-normalised returns ``i / cos(theta)`` versus
    range; reflectivity ``rho = i / (cos(theta) E)``; the film's round-trip transmittance is
    ``t = T_aw rho T_wa / (1 - rho R_wa)`` (Fresnel, air -> water -> ground -> air, the larger of
    s and p); with film share ``f = min(water_height / 1.2 mm, 1)`` the return becomes
    ``E cos(theta) ((1 - f) rho + f t / theta)``, never brighter than before. Ground returns at or
    below ``noise_floor_share x`` the fitted normalised return times ``cos(theta)`` are lost.
    Non-ground points are untouched.

    Robo3D takes the ground from labels; here it is the plane fit
    (:func:`seal_train.scene.ground.fit_ground_plane`, points within
    :data:`seal_train.scene.ground.GROUND_BAND_M`), and the incidence uses the fitted normal.
    Robo3D's noise level comes from a histogram of minimum returns; on its 0..1 nuScenes
    intensities that estimate rarely finds enough bins and falls back to the return fit itself,
    which is what is used here. Fewer than :data:`MIN_GROUND_POINTS` ground points: unchanged (as
    Robo3D).

    Args:
        water_height_m / noise_floor_share: light 0.2 mm / 0.2, moderate 1.0 mm / 0.3,
            heavy 1.2 mm / 0.7 (Robo3D).

    Returns:
        intensity (N,) float64 normalised, keep (N,) bool.
    """
    intensity = np.asarray(intensity, np.float64).copy()
    keep = np.ones(len(intensity), bool)
    if plane is None or int(ground.sum()) < MIN_GROUND_POINTS:
        return intensity, keep
    p = np.asarray(xyz, np.float64)[ground]
    distance = np.linalg.norm(p, axis=1)
    cos_in = np.clip(-(p @ plane.normal) / np.maximum(distance, 1e-9), 0.01, 1.0)
    theta = np.arccos(cos_in)
    i = intensity[ground]
    slope, intercept = _ground_return_fit(distance, i / cos_in)
    fitted = np.maximum(slope * distance + intercept, 1e-6)  # normalised return, per point
    emitted = WET_POWER_FACTOR * fitted
    rho = i / cos_in / emitted
    rho_c = np.clip(rho, 0.05, 1.0)
    _, t_s_in, _, t_p_in, theta_w = fresnel_power(theta, REFRACTIVE_INDEX_AIR,
                                                  REFRACTIVE_INDEX_WATER)
    r_s_out, t_s_out, r_p_out, t_p_out, _ = fresnel_power(theta_w, REFRACTIVE_INDEX_WATER,
                                                          REFRACTIVE_INDEX_AIR)
    t = np.maximum(t_s_in * rho_c * t_s_out / (1.0 - rho_c * r_s_out),
                   t_p_in * rho_c * t_p_out / (1.0 - rho_c * r_p_out))
    share = min(max(water_height_m / WET_PAVEMENT_DEPTH_M, 0.0), 1.0)
    wet = emitted * cos_in * ((1.0 - share) * rho + share * t / theta)
    new = np.clip(wet, 0.0, i)
    kept = new > noise_floor_share * fitted * cos_in
    intensity[ground] = new
    keep[ground] = kept
    return intensity, keep
