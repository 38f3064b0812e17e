"""Vectorised ray casting against yaw-oriented boxes, ellipsoids, vertical cylinders and the ground.

Rays of one sensor share an origin and come in tiles (:class:`~seal_train.synth.rig.TiledRays`). The
caster receives (tile, primitive) pairs from the sensor's culling, tests every ray of a tile against
the paired primitive, and keeps the nearest hit per ray with one ``minimum.reduceat`` over int64
keys that pack the hit distance (float32 bits, ordered like the floats for positive values) above
the pair index, so the winner's identity comes with its distance and ties break deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

_EPS = 1e-4  # metres along the ray: hits closer than this are ignored


class Kind(IntEnum):
    """Primitive shapes; ``half`` is half extents (box), radii (ellipsoid), (r, r, half height)."""

    BOX = 0
    ELLIPSOID = 1
    CYLINDER = 2


@dataclass(frozen=True, eq=False)
class Primitives:
    """Primitives placed in the world at one instant; all arrays have P rows.

    Attributes:
        kind: (P,) int8 :class:`Kind`.
        center: (P, 3) float64 world centre.
        half: (P, 3) float64 half extents of the yaw-oriented bounding box (see :class:`Kind`).
        yaw: (P,) float64 rotation about world z.
        source: (P,) int64 row in the town's primitive table.
    """

    kind: np.ndarray
    center: np.ndarray
    half: np.ndarray
    yaw: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    def take(self, index: np.ndarray) -> Primitives:
        return Primitives(self.kind[index], self.center[index], self.half[index], self.yaw[index],
                          self.source[index])

    def corners(self) -> np.ndarray:
        """(P, 8, 3) float64 world corners of the bounding boxes."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                         dtype=np.float64)
        local = signs[None] * self.half[:, None, :]  # (P, 8, 3)
        c, s = np.cos(self.yaw)[:, None], np.sin(self.yaw)[:, None]
        x = c * local[..., 0] - s * local[..., 1]
        y = s * local[..., 0] + c * local[..., 1]
        return self.center[:, None, :] + np.stack([x, y, local[..., 2]], axis=-1)

    def to_local(self, points: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """World points (P, ..., 3) -> each primitive's local frame (centred, yaw removed)."""
        center, yaw = (self.center, self.yaw) if index is None else (self.center[index],
                                                                     self.yaw[index])
        rel = points - center.reshape(center.shape[:1] + (1,) * (points.ndim - 2) + (3,))
        c = np.cos(yaw).reshape(yaw.shape + (1,) * (points.ndim - 2))
        s = np.sin(yaw).reshape(c.shape)
        return np.stack([c * rel[..., 0] + s * rel[..., 1], -s * rel[..., 0] + c * rel[..., 1],
                         rel[..., 2]], axis=-1)

    def distances(self, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Horizontal and 3D distance (P,) from ``origin`` (3,) to each bounding box (0 inside)."""
        local = self.to_local(np.broadcast_to(origin, (len(self), 1, 3)))[:, 0]
        gap = np.maximum(np.abs(local) - self.half, 0.0)
        return np.hypot(gap[:, 0], gap[:, 1]), np.linalg.norm(gap, axis=1)


Vec = tuple[np.ndarray, np.ndarray, np.ndarray]
"""A batch of 3-vectors as separate x, y, z arrays (components apart keep numpy ops contiguous)."""


def _hit_box(o: Vec, d: Vec, h: Vec) -> np.ndarray:
    """Slab test in the local frame: o, h (Q, 1), d (Q, T) -> (Q, T) entry distance, inf = miss."""
    t_near: np.ndarray = np.full(np.broadcast_shapes(o[0].shape, d[0].shape), -np.inf,
                                 dtype=np.result_type(o[0], d[0]))
    t_far: np.ndarray = np.full_like(t_near, np.inf)
    for oi, di, hi in zip(o, d, h, strict=True):
        inv = 1.0 / di
        a, b = (-hi - oi) * inv, (hi - oi) * inv
        t_near = np.maximum(t_near, np.minimum(a, b))
        t_far = np.minimum(t_far, np.maximum(a, b))
    return np.where((t_far >= t_near) & (t_near > _EPS), t_near, np.float32(np.inf))


def _hit_ellipsoid(o: Vec, d: Vec, h: Vec) -> np.ndarray:
    os_ = [oi / hi for oi, hi in zip(o, h, strict=True)]  # unit-sphere frame
    ds = [di / hi for di, hi in zip(d, h, strict=True)]
    A = ds[0] * ds[0] + ds[1] * ds[1] + ds[2] * ds[2]
    B = os_[0] * ds[0] + os_[1] * ds[1] + os_[2] * ds[2]
    C = os_[0] * os_[0] + os_[1] * os_[1] + os_[2] * os_[2] - 1.0
    disc = B * B - A * C
    t = (-B - np.sqrt(np.maximum(disc, 0.0))) / A
    return np.where((disc >= 0) & (t > _EPS), t, np.float32(np.inf))


def _hit_cylinder(o: Vec, d: Vec, h: Vec) -> np.ndarray:
    (ox, oy, oz), (dx, dy, dz), (r, _, hz) = o, d, h
    A = np.maximum(dx * dx + dy * dy, np.float32(1e-12))
    B = ox * dx + oy * dy
    C = ox * ox + oy * oy - r * r
    disc = B * B - A * C
    t_side = (-B - np.sqrt(np.maximum(disc, 0.0))) / A
    ok = (disc >= 0) & (t_side > _EPS) & (np.abs(oz + t_side * dz) <= hz)
    best = np.where(ok, t_side, np.float32(np.inf))
    for cap, facing in ((hz, dz < 0), (-hz, dz > 0)):
        t_cap = (cap - oz) / dz
        x, y = ox + t_cap * dx, oy + t_cap * dy
        ok = facing & (t_cap > _EPS) & (x * x + y * y <= r * r)
        best = np.where(ok & (t_cap < best), t_cap, best)
    return best


_HIT = {Kind.BOX: _hit_box, Kind.ELLIPSOID: _hit_ellipsoid, Kind.CYLINDER: _hit_cylinder}


def expand_pairs(ty0: np.ndarray, ny: np.ndarray, tx0: np.ndarray, nx: np.ndarray,
                 n_tx: int) -> tuple[np.ndarray, np.ndarray]:
    """Tile rectangles per primitive -> flat (tile index, primitive index) pairs; tx wraps."""
    count = ny * nx
    prim = np.repeat(np.arange(len(count)), count)
    starts = np.cumsum(count) - count
    k = np.arange(int(count.sum())) - np.repeat(starts, count)
    ty = ty0[prim] + k // nx[prim]
    tx = (tx0[prim] + k % nx[prim]) % n_tx
    return ty * n_tx + tx, prim


def cast(prims: Primitives, origin: np.ndarray, dirs: np.ndarray, pair_tile: np.ndarray,
         pair_prim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest primitive hit per ray.

    Args:
        prims: primitives in the world frame.
        origin: (3,) float64 ray origin, world frame.
        dirs: (n_tiles, T, 3) float32 world ray directions.
        pair_tile, pair_prim: (Q,) int64 tiles and primitives to test against each other.

    Returns:
        ``t`` (n_tiles, T) float32 ray parameter of the hit (inf = none) and ``prim`` (n_tiles, T)
        int64 primitive index (-1 = none).
    """
    n_tiles, T, _ = dirs.shape
    t_best = np.full((n_tiles, T), np.inf, dtype=np.float32)
    prim_best = np.full((n_tiles, T), -1, dtype=np.int64)
    if not len(pair_tile):
        return t_best, prim_best
    order = np.argsort(pair_tile, kind="stable")  # pairs grouped by tile for the reduction
    pair_tile, pair_prim = pair_tile[order], pair_prim[order]
    key = np.empty((len(pair_tile), T), dtype=np.int64)
    comp = [np.ascontiguousarray(dirs[..., i]) for i in range(3)]  # (n_tiles, T) each
    local = prims.to_local(np.broadcast_to(origin, (len(prims), 1, 3)))[:, 0].astype(np.float32)
    cos, sin = np.cos(prims.yaw).astype(np.float32), np.sin(prims.yaw).astype(np.float32)
    half = prims.half.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        for kind, hit in _HIT.items():
            sel = np.flatnonzero(prims.kind[pair_prim] == kind)
            if not len(sel):
                continue
            pp, tiles = pair_prim[sel], pair_tile[sel]
            dx, dy = comp[0][tiles], comp[1][tiles]  # (Q_k, T)
            c, s = cos[pp, None], sin[pp, None]
            d = (c * dx + s * dy, c * dy - s * dx, comp[2][tiles])
            o = (local[pp, 0, None], local[pp, 1, None], local[pp, 2, None])
            h = (half[pp, 0, None], half[pp, 1, None], half[pp, 2, None])
            t = hit(o, d, h).astype(np.float32, copy=False)  # (Q_k, T)
            key[sel] = (t.view(np.int32).astype(np.int64) << 32) | sel[:, None]
    starts = np.flatnonzero(np.r_[True, pair_tile[1:] != pair_tile[:-1]])
    best = np.minimum.reduceat(key, starts, axis=0)  # (U, T)
    t = (best >> 32).astype(np.int32).view(np.float32)
    won = pair_prim[best & 0xFFFFFFFF]
    t_best[pair_tile[starts]] = t
    prim_best[pair_tile[starts]] = np.where(np.isfinite(t), won, -1)
    return t_best, prim_best


def ground_hits(origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Ray parameter where each ray meets the ground plane z = 0 (inf if it never does)."""
    dz = dirs[..., 2]
    t = np.float32(-origin[2]) / np.where(dz < -1e-9, dz, np.float32(-1.0))
    return np.where(dz < -1e-9, t, np.float32(np.inf)).astype(np.float32)


def surface_at(prims: Primitives, point: np.ndarray, prim: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local hit points, outward world normals and dominant local axis of M hits.

    Args:
        point: (M, 3) world hit points; prim: (M,) primitive index of each.

    Returns:
        ``local`` (M, 3) float32 in the primitive frame, ``normal`` (M, 3) float32 unit world
        normal, ``axis`` (M,) int64 local axis (0 x, 1 y, 2 z) the hit point leans towards most
        (the hit face of a box).
    """
    yaw = prims.yaw[prim]
    cos, sin = np.cos(yaw).astype(np.float32), np.sin(yaw).astype(np.float32)
    rel = (point - prims.center[prim]).astype(np.float32)
    lx = cos * rel[:, 0] + sin * rel[:, 1]
    ly = cos * rel[:, 1] - sin * rel[:, 0]
    lz = rel[:, 2]
    half = prims.half[prim].astype(np.float32)
    hx, hy, hz = half[:, 0], half[:, 1], half[:, 2]
    ax_, ay_, az_ = np.abs(lx / hx), np.abs(ly / hy), np.abs(lz / hz)
    on_x = (ax_ >= ay_) & (ax_ >= az_)
    on_y = ~on_x & (ay_ >= az_)
    axis = np.where(on_x, 0, np.where(on_y, 1, 2))
    kind = prims.kind[prim]
    zero = np.zeros_like(lx)
    # box: the face normal; ellipsoid: the gradient; cylinder: radial side or flat cap
    side = np.hypot(ax_, ay_) >= az_
    is_box, is_ell = kind == Kind.BOX, kind == Kind.ELLIPSOID
    nx = np.where(is_box, np.where(on_x, np.sign(lx), zero),
                  np.where(is_ell, lx / (hx * hx), np.where(side, lx, zero)))
    ny = np.where(is_box, np.where(on_y, np.sign(ly), zero),
                  np.where(is_ell, ly / (hy * hy), np.where(side, ly, zero)))
    nz = np.where(is_box, np.where(axis == 2, np.sign(lz), zero),
                  np.where(is_ell, lz / (hz * hz), np.where(side, zero, np.sign(lz))))
    norm = np.maximum(np.sqrt(nx * nx + ny * ny + nz * nz), np.float32(1e-12))
    nx, ny, nz = nx / norm, ny / norm, nz / norm
    normal = np.stack([cos * nx - sin * ny, sin * nx + cos * ny, nz], axis=1)
    return np.stack([lx, ly, lz], axis=1), normal, axis
