"""Render one sensor of the rig: a camera image with its instance mask, or a LiDAR scan.

Both trace the same town through :func:`trace` (cull to tiles, cast against primitives, compare with
the ground plane), so image pixels, mask ids and LiDAR labels agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seal_train.synth.appearance import (
    Look,
    ground_texture,
    lidar_intensity,
    object_texture,
    shade,
    sky_color,
)
from seal_train.synth.raycast import Primitives, cast, expand_pairs, ground_hits, surface_at
from seal_train.synth.rig import PinholeCamera, SpinningLidar, TiledRays, TileRanges
from seal_train.synth.town import Town

WINDOW_COLOR = np.array([0.12, 0.16, 0.24], dtype=np.float32)
CAMERA_FAR_M = 250.0
"""Cameras see nothing (sky colour, mask 0) beyond this distance."""
LIDAR_MIN_RANGE_M = 1.0


@dataclass(frozen=True, eq=False)
class Trace:
    """Nearest surface per ray of one sensor, flattened over (n_tiles * T) rays."""

    t: np.ndarray  # (R,) float32 ray parameter, inf = nothing
    prim: np.ndarray  # (R,) int64 primitive index, -1 = ground or nothing
    ground: np.ndarray  # (R,) bool the ground plane is the nearest surface
    dirs: np.ndarray  # (R, 3) float32 world directions (not unit for cameras)
    origin: np.ndarray  # (3,) float64 world origin


def trace(rays: TiledRays, T_world_sensor: np.ndarray, prims: Primitives,
          ranges: TileRanges) -> Trace:
    """Cast all rays of a sensor against the primitives its culling kept, and the ground."""
    origin = T_world_sensor[:3, 3]
    dirs = np.einsum("ntj,ij->nti", rays.dirs, T_world_sensor[:3, :3].astype(np.float32))
    vis = np.flatnonzero(ranges.visible)
    pair_tile, pair_local = expand_pairs(ranges.ty0[vis], ranges.ny[vis], ranges.tx0[vis],
                                         ranges.nx[vis], rays.n_tx)
    t, prim = cast(prims, origin, dirs, pair_tile, vis[pair_local])
    t_ground = ground_hits(origin, dirs)
    ground = t_ground < t
    t = np.where(ground, t_ground, t)
    prim = np.where(ground, -1, prim)
    return Trace(t.reshape(-1), prim.reshape(-1), ground.reshape(-1), dirs.reshape(-1, 3), origin)


@dataclass(frozen=True, eq=False)
class Surface:
    """What the rays of a :class:`Trace` hit (M hit rays)."""

    rows: np.ndarray  # (M,) ray index
    point: np.ndarray  # (M, 3) float64 world
    segment: np.ndarray  # (M,) int64 segment id
    label: np.ndarray  # (M,) int64 raw label
    color: np.ndarray  # (M, 3) float32 albedo with texture
    normal: np.ndarray  # (M, 3) float32 world unit normal
    reflect: np.ndarray  # (M,) float32


def surface(tr: Trace, hit: np.ndarray, prims: Primitives, town: Town,
            textured: bool) -> Surface:
    """Resolve segment, label, normal, colour and reflectivity of the rays flagged in ``hit``.

    Rows come ground hits first, then primitive hits.
    """
    g_rows = np.flatnonzero(hit & tr.ground)
    o_rows = np.flatnonzero(hit & ~tr.ground)
    g_point = tr.origin + tr.t[g_rows, None] * tr.dirs[g_rows]  # float64 world
    o_point = tr.origin + tr.t[o_rows, None] * tr.dirs[o_rows]
    gx, gy = g_point[:, 0], g_point[:, 1]
    g_seg, g_label, g_color, g_reflect = town.ground.lookup(gx, gy)
    g_normal = np.broadcast_to(np.array([0.0, 0.0, 1.0], dtype=np.float32), (len(g_rows), 3))
    prim = tr.prim[o_rows]
    src = prims.source[prim]
    obj = town.prim_obj[src]
    local, o_normal, axis = surface_at(prims, o_point, prim)
    o_color = town.prim_color[src]
    o_reflect = town.prim_reflect[src]
    if textured:
        g_color *= ground_texture(gx, gy, g_label)[:, None]
        factor, windows = object_texture(town.prim_material[src], o_point, local, axis,
                                         prims.half[prim])
        o_color *= factor[:, None]
        o_color[windows] = WINDOW_COLOR
        o_reflect[windows] *= 0.3
    return Surface(rows=np.concatenate([g_rows, o_rows]),
                   point=np.concatenate([g_point, o_point]),
                   segment=np.concatenate([g_seg, town.obj_instance[obj]]),
                   label=np.concatenate([g_label, town.obj_label[obj]]),
                   color=np.clip(np.concatenate([g_color, o_color]), 0.0, 1.0),
                   normal=np.concatenate([g_normal, o_normal]),
                   reflect=np.concatenate([g_reflect, o_reflect]))


def render_camera(camera: PinholeCamera, T_world_cam: np.ndarray, prims: Primitives, town: Town,
                  look: Look, rng: np.random.Generator, noise_sigma: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB image and (H, W) uint16 segment mask of one camera at one instant."""
    R, origin = T_world_cam[:3, :3], T_world_cam[:3, 3]
    _, r_min = prims.distances(origin)
    corners = np.einsum("pkj,ji->pki", prims.corners() - origin, R)  # (P, 8, 3) camera frame
    center = np.einsum("pj,ji->pi", prims.center - origin, R)
    ranges = camera.tile_ranges(corners, center, np.linalg.norm(prims.half, axis=1))
    ranges.visible[r_min > CAMERA_FAR_M] = False
    tr = trace(camera.rays, T_world_cam, prims, ranges)
    length = np.sqrt((tr.dirs * tr.dirs).sum(axis=1))
    unit = tr.dirs / length[:, None]
    hit = np.isfinite(tr.t) & (tr.t * length <= CAMERA_FAR_M)
    surf = surface(tr, hit, prims, town, textured=True)
    rgb = np.empty((len(tr.t), 3), np.float32)
    sky = np.flatnonzero(~hit)
    rgb[sky] = sky_color(unit[sky], look)
    rgb[surf.rows] = shade(surf.color, surf.normal, tr.t[surf.rows] * length[surf.rows], look)
    seg = np.zeros(len(tr.t), np.uint16)
    seg[surf.rows] = surf.segment
    n_tiles, T = camera.rays.dirs.shape[:2]
    image = camera.rays.untile(rgb.reshape(n_tiles, T, 3))
    image = image * np.float32(255.0) + np.float32(noise_sigma) * rng.standard_normal(
        image.shape, dtype=np.float32)
    mask = camera.rays.untile(seg.reshape(n_tiles, T))
    return np.clip(np.round(image), 0, 255).astype(np.uint8), np.ascontiguousarray(mask)


@dataclass(frozen=True, eq=False)
class Scan:
    """One LiDAR sweep in the LiDAR frame, points in azimuth-major firing order."""

    xyz: np.ndarray  # (N, 3) float32
    intensity: np.ndarray  # (N,) float32 0..255
    ring: np.ndarray  # (N,) float32 0..B-1 (0 = lowest beam)
    label: np.ndarray  # (N,) uint32 raw label
    segment: np.ndarray  # (N,) uint32


def scan_lidar(lidar: SpinningLidar, T_world_lidar: np.ndarray, prims: Primitives, town: Town,
               rng: np.random.Generator, range_noise_m: float) -> Scan:
    """Fire every beam at once from ``T_world_lidar``; returns beyond max range are dropped."""
    R, origin = T_world_lidar[:3, :3], T_world_lidar[:3, 3]
    r_xy_min, r_min = prims.distances(origin)
    corners = np.einsum("pkj,ji->pki", prims.corners() - origin, R)
    center = np.einsum("pj,ji->pi", prims.center - origin, R)
    ranges = lidar.tile_ranges(corners, center, np.linalg.norm(prims.half, axis=1), r_xy_min,
                               r_min)
    tr = trace(lidar.rays, T_world_lidar, prims, ranges)
    n_tiles, T = lidar.rays.dirs.shape[:2]
    grid_index = lidar.rays.untile(np.arange(n_tiles * T).reshape(n_tiles, T))  # (B, A)
    order = grid_index.T.reshape(-1)  # azimuth-major firing order
    ring = np.broadcast_to(np.arange(lidar.rays.height)[None, :], grid_index.T.shape).reshape(-1)
    keep = (tr.t[order] >= LIDAR_MIN_RANGE_M) & (tr.t[order] <= lidar.max_range_m)
    order, ring = order[keep], ring[keep]
    hit = np.zeros(len(tr.t), bool)
    hit[order] = True
    surf = surface(tr, hit, prims, town, textured=False)
    pos = np.empty(len(tr.t), np.int64)
    pos[surf.rows] = np.arange(len(surf.rows))
    take = pos[order]  # surface rows in firing order
    dirs_lidar = lidar.rays.dirs.reshape(-1, 3)[order]
    rng_m = tr.t[order] + rng.normal(0.0, range_noise_m, len(order)).astype(np.float32)
    cos = np.abs((surf.normal[take] * tr.dirs[order]).sum(axis=1))
    return Scan(xyz=(dirs_lidar * rng_m[:, None]).astype(np.float32),
                intensity=lidar_intensity(surf.reflect[take], cos, rng),
                ring=ring.astype(np.float32), label=surf.label[take].astype(np.uint32),
                segment=surf.segment[take].astype(np.uint32))
