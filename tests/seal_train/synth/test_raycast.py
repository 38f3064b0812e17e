"""Ray casting against a slow, obvious reference (ray marching with inside tests), and culling."""

from __future__ import annotations

import numpy as np

from seal_ros.core.transforms import rigid
from seal_train.synth.raycast import Kind, Primitives, cast, expand_pairs, surface_at
from seal_train.synth.render import trace
from seal_train.synth.rig import TileRanges, build_lidar, yaw_rotation


def _prims() -> Primitives:
    kind = np.array([Kind.BOX, Kind.ELLIPSOID, Kind.CYLINDER, Kind.BOX], dtype=np.int8)
    center = np.array([[6.0, 1.0, 1.0], [5.0, -3.0, 1.5], [8.0, 4.0, 2.0], [12.0, 0.0, 3.0]])
    half = np.array([[1.0, 2.0, 1.0], [1.2, 0.8, 1.5], [0.5, 0.5, 2.0], [0.5, 6.0, 3.0]])
    yaw = np.array([0.4, -0.7, 0.0, 0.1])
    return Primitives(kind, center, half, yaw, np.arange(4))


def _inside(prims: Primitives, points: np.ndarray) -> np.ndarray:
    """(S, 3) points -> (S, P) inside each primitive."""
    local = prims.to_local(np.broadcast_to(points, (len(prims),) + points.shape))  # (P, S, 3)
    q = local / prims.half[:, None, :]
    box = (np.abs(q) <= 1).all(axis=-1)
    ell = (q * q).sum(axis=-1) <= 1
    cyl = (q[..., 0] ** 2 + q[..., 1] ** 2 <= 1) & (np.abs(q[..., 2]) <= 1)
    kind = prims.kind[:, None]
    return np.where(kind == Kind.BOX, box, np.where(kind == Kind.ELLIPSOID, ell, cyl)).T


def test_cast_matches_ray_marching() -> None:
    prims = _prims()
    rng = np.random.default_rng(0)
    origin = np.array([0.0, 0.0, 1.8])
    dirs = rng.normal(size=(4, 32, 3)) * [1.0, 0.5, 0.2] + [1.0, 0.0, 0.0]
    dirs = (dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)).astype(np.float32)
    tile, prim = expand_pairs(np.zeros(4, np.int64), np.ones(4, np.int64),
                              np.zeros(4, np.int64), np.full(4, 4), 4)
    t, won = cast(prims, origin, dirs, tile, prim)
    step = 0.002
    ts = np.arange(0.0, 25.0, step)
    hits = 0
    for ray, (t_ray, won_ray) in enumerate(zip(t.reshape(-1), won.reshape(-1), strict=True)):
        d = dirs.reshape(-1, 3)[ray].astype(np.float64)
        inside = _inside(prims, origin + ts[:, None] * d)  # (S, P)
        first = np.flatnonzero(inside.any(axis=1))
        if not len(first):
            assert won_ray == -1, ray
            continue
        hits += 1
        assert abs(t_ray - ts[first[0]]) <= 2 * step, ray
        assert inside[first[0], won_ray] or inside[min(first[0] + 2, len(ts) - 1), won_ray], ray
    assert hits > 30


def test_surface_normals_point_outwards() -> None:
    prims = _prims()
    local = np.array([[1.0, 0.2, 0.1], [0.0, 0.0, 1.5], [0.5, 0.0, 0.0], [0.0, 0.0, 3.0]])
    c, s = np.cos(prims.yaw), np.sin(prims.yaw)
    world = prims.center + np.stack([c * local[:, 0] - s * local[:, 1],
                                     s * local[:, 0] + c * local[:, 1], local[:, 2]], axis=1)
    back, normal, axis = surface_at(prims, world, np.arange(4))
    np.testing.assert_allclose(back, local, atol=1e-5)
    np.testing.assert_allclose(normal[0], [c[0], s[0], 0.0], atol=1e-6)  # box +x face
    np.testing.assert_allclose(normal[1], [0.0, 0.0, 1.0], atol=1e-6)  # ellipsoid top
    np.testing.assert_allclose(normal[2], [1.0, 0.0, 0.0], atol=1e-6)  # cylinder side
    np.testing.assert_allclose(normal[3], [0.0, 0.0, 1.0], atol=1e-6)  # box top
    assert axis.tolist() == [0, 2, 0, 2]


def test_lidar_culling_is_conservative() -> None:
    """Culled tracing equals tracing every primitive against every tile."""
    lidar = build_lidar(32, 256, 70.0)
    rng = np.random.default_rng(1)
    n = 60
    prims = Primitives(rng.integers(0, 3, n).astype(np.int8),
                       np.c_[rng.uniform(-40, 40, (n, 2)), rng.uniform(0.2, 4.0, n)],
                       rng.uniform(0.2, 3.0, (n, 3)), rng.uniform(-np.pi, np.pi, n), np.arange(n))
    prims.half[prims.kind == Kind.CYLINDER, 1] = prims.half[prims.kind == Kind.CYLINDER, 0]
    keep = prims.distances(np.zeros(3))[1] > 1.0  # the sensor is outside every primitive
    prims = prims.take(np.flatnonzero(keep))
    T_world_lidar = rigid(yaw_rotation(0.3), (0.5, -0.2, 1.84)) @ rigid(yaw_rotation(-np.pi / 2),
                                                                        (0, 0, 0))
    R, origin = T_world_lidar[:3, :3], T_world_lidar[:3, 3]
    r_xy, r = prims.distances(origin)
    corners = np.einsum("pkj,ji->pki", prims.corners() - origin, R)
    center = np.einsum("pj,ji->pi", prims.center - origin, R)
    culled = lidar.tile_ranges(corners, center, np.linalg.norm(prims.half, axis=1), r_xy, r)
    P = len(prims)
    full = TileRanges(np.ones(P, bool), np.zeros(P, np.int64), np.full(P, lidar.rays.n_ty),
                      np.zeros(P, np.int64), np.full(P, lidar.rays.n_tx))
    a = trace(lidar.rays, T_world_lidar, prims, culled)
    b = trace(lidar.rays, T_world_lidar, prims, full)
    assert culled.visible.sum() < P or culled.nx.sum() < P * lidar.rays.n_tx
    np.testing.assert_array_equal(a.prim, b.prim)
    np.testing.assert_array_equal(a.t, b.t)
    assert (a.prim >= 0).sum() > 100
