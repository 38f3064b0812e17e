"""The procedural town: ground strips, static objects and moving agents, built from one RNG.

World frame: the road runs along +x centred on y = 0, z up, ground at z = 0. Across the road, per
side (right y < 0, left y > 0): driving lane (|y| < 3.5), parking strip (3.5..6, driveable),
sidewalk (6..9), verge (9..13: trees, bushes, poles, signs) and the built-up strip beyond (buildings
on grass or paved plots). Labels are nuScenes lidarseg raw ids; every object is one segment id,
stable over the scene; stuff regions (road, each sidewalk, each verge/plot patch) have ids too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from seal_ros.errors import ConfigError
from seal_train.synth.raycast import Kind, Primitives
from seal_train.synth.record import SynthBox

# nuScenes lidarseg raw ids
PEDESTRIAN, BARRIER, TRAFFIC_CONE, BICYCLE, BUS, CAR = 2, 9, 12, 14, 16, 17
CONSTRUCTION, MOTORCYCLE, TRAILER, TRUCK = 18, 21, 22, 23
DRIVEABLE, OTHER_FLAT, SIDEWALK, TERRAIN, MANMADE, VEGETATION = 24, 25, 26, 27, 28, 30
THING_LABELS = frozenset({PEDESTRIAN, BARRIER, TRAFFIC_CONE, BICYCLE, BUS, CAR, CONSTRUCTION,
                          MOTORCYCLE, TRAILER, TRUCK})

LANE_WIDTH_M = 3.5
ROAD_HALF_WIDTH_M = 6.0
SIDEWALK_OUTER_M = 9.0
VERGE_OUTER_M = 13.0
ROAD_ID, FIRST_PATCH_ID, FIRST_OBJECT_ID = 1, 4, 200  # sidewalks are 2 (right) and 3 (left)

_REFLECT = {DRIVEABLE: 0.12, OTHER_FLAT: 0.28, SIDEWALK: 0.25, TERRAIN: 0.35, MANMADE: 0.3,
            VEGETATION: 0.45, PEDESTRIAN: 0.25, BARRIER: 0.6, TRAFFIC_CONE: 0.85, BICYCLE: 0.3,
            BUS: 0.45, CAR: 0.4, CONSTRUCTION: 0.5, MOTORCYCLE: 0.35, TRAILER: 0.45, TRUCK: 0.45}
MARKING_REFLECT = 0.65
MARKING_COLOR = (0.86, 0.86, 0.82)


class Material(IntEnum):
    """Surface texture the camera shader adds on top of a primitive's colour."""

    PLAIN = 0
    FACADE = 1  # window grid
    FOLIAGE = 2  # strong leafy noise


@dataclass(frozen=True, eq=False)
class Ground:
    """Ground plane regions as one table: row 0 road, 1 right sidewalk, 2 left sidewalk, then the
    patches of the strips (right verge, right plots, left verge, left plots) in x order.

    Attributes:
        bounds: (4, M) float64 increasing x boundaries of each strip's M + 1 patches.
        ids, labels: (3 + 4 (M + 1),) int64 segment id and raw label per table row.
        colors: (3 + 4 (M + 1), 3) float32 albedo; reflect: (3 + 4 (M + 1),) float32.
    """

    bounds: np.ndarray
    ids: np.ndarray
    labels: np.ndarray
    colors: np.ndarray
    reflect: np.ndarray

    def lookup(self, x: np.ndarray, y: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Segment id, raw label, colour (M, 3) float32 and reflectivity at world (x, y)."""
        ay = np.abs(y)
        band = np.searchsorted(np.array([ROAD_HALF_WIDTH_M, SIDEWALK_OUTER_M, VERGE_OUTER_M]), ay,
                               side="right")  # 0 road, 1 sidewalk, 2 verge, 3 plots
        left = (y > 0).astype(np.int64)
        strip = 2 * left + np.maximum(band - 2, 0)
        n_patch = self.bounds.shape[1] + 1
        patch = np.empty(len(x), dtype=np.int64)
        for s in range(4):  # four strips, each a sorted x partition
            sel = strip == s
            patch[sel] = np.searchsorted(self.bounds[s], x[sel])
        row = np.where(band == 0, 0, np.where(band == 1, 1 + left, 3 + strip * n_patch + patch))
        colors = self.colors[row]
        reflect = self.reflect[row]
        marking = (band == 0) & ((ay < 0.08) & (np.mod(x, 6.0) < 3.0)
                                 | (np.abs(ay - LANE_WIDTH_M) < 0.08))
        colors[marking] = MARKING_COLOR
        reflect[marking] = MARKING_REFLECT
        return self.ids[row], self.labels[row], colors, reflect


@dataclass(frozen=True, eq=False)
class Town:
    """Objects (O rows) and their primitives (Q rows) in object frames, plus the ground.

    Objects move at constant velocity: position(t) = ``obj_pos + obj_vel * t`` (t in seconds from
    the scene start). Object frame: x along the object's heading ``obj_yaw``, origin on the ground.
    """

    obj_instance: np.ndarray  # (O,) int64 segment id
    obj_label: np.ndarray  # (O,) int64 raw label
    obj_pos: np.ndarray  # (O, 3) float64 at t = 0
    obj_yaw: np.ndarray  # (O,) float64
    obj_vel: np.ndarray  # (O, 3) float64 m/s
    obj_box_center: np.ndarray  # (O, 3) box centre in the object frame
    obj_box_wlh: np.ndarray  # (O, 3) width, length, height
    prim_obj: np.ndarray  # (Q,) int64 object row
    prim_kind: np.ndarray  # (Q,) int8
    prim_offset: np.ndarray  # (Q, 3) centre in the object frame
    prim_half: np.ndarray  # (Q, 3)
    prim_yaw: np.ndarray  # (Q,) relative to the object
    prim_color: np.ndarray  # (Q, 3) float32 RGB 0..1
    prim_material: np.ndarray  # (Q,) int8
    prim_reflect: np.ndarray  # (Q,) float32 0..1
    ground: Ground

    def primitives_at(self, time_s: float, near: np.ndarray, radius_m: float) -> Primitives:
        """Primitives at ``time_s`` of the objects within ``radius_m`` of world xy ``near``."""
        pos = self.obj_pos + self.obj_vel * time_s  # (O, 3)
        reach = (np.hypot(self.obj_box_wlh[:, 0], self.obj_box_wlh[:, 1]) / 2
                 + np.abs(self.obj_box_center[:, :2]).sum(axis=1))
        keep_obj = np.hypot(pos[:, 0] - near[0], pos[:, 1] - near[1]) <= radius_m + reach
        rows = np.flatnonzero(keep_obj[self.prim_obj])
        obj = self.prim_obj[rows]
        yaw = self.obj_yaw[obj]
        c, s = np.cos(yaw), np.sin(yaw)
        off = self.prim_offset[rows]
        center = pos[obj] + np.stack([c * off[:, 0] - s * off[:, 1], s * off[:, 0] + c * off[:, 1],
                                      off[:, 2]], axis=1)
        return Primitives(self.prim_kind[rows], center, self.prim_half[rows],
                          yaw + self.prim_yaw[rows], rows)

    def boxes_at(self, time_s: float, near: np.ndarray, radius_m: float) -> tuple[SynthBox, ...]:
        """Boxes of the thing objects whose centre lies within ``radius_m`` of world xy ``near``."""
        pos = self.obj_pos + self.obj_vel * time_s
        boxes = []
        for o in np.flatnonzero(np.isin(self.obj_label, list(THING_LABELS))):
            c, s = np.cos(self.obj_yaw[o]), np.sin(self.obj_yaw[o])
            bc = self.obj_box_center[o]
            center = pos[o] + np.array([c * bc[0] - s * bc[1], s * bc[0] + c * bc[1], bc[2]])
            if np.hypot(center[0] - near[0], center[1] - near[1]) > radius_m:
                continue
            boxes.append(SynthBox(int(self.obj_instance[o]), int(self.obj_label[o]), center,
                                  self.obj_box_wlh[o].copy(), float(self.obj_yaw[o]),
                                  self.obj_vel[o].copy()))
        return tuple(boxes)


Part = tuple[Kind, tuple[float, float, float], tuple[float, float, float], np.ndarray, Material]
"""(kind, centre in the object frame, half extents, RGB colour, material)."""


def _box(center: tuple[float, float, float], half: tuple[float, float, float], color: np.ndarray,
         material: Material = Material.PLAIN) -> Part:
    return (Kind.BOX, center, half, color, material)


def _wheels(rng: np.random.Generator, length: float, width: float, radius: float) -> list[Part]:
    dark = np.array([0.07, 0.07, 0.08]) * rng.uniform(0.8, 1.2)
    return [_box((sx * length * 0.32, sy * (width / 2 - 0.12), radius), (radius, 0.12, radius),
                 dark) for sx in (-1, 1) for sy in (-1, 1)]


_CAR_COLORS = np.array([[0.70, 0.08, 0.08], [0.10, 0.20, 0.55], [0.88, 0.88, 0.86],
                        [0.62, 0.63, 0.66], [0.08, 0.08, 0.09], [0.12, 0.35, 0.18],
                        [0.85, 0.65, 0.15], [0.40, 0.25, 0.15]])
_BUILDING_COLORS = np.array([[0.76, 0.70, 0.58], [0.62, 0.33, 0.25], [0.55, 0.56, 0.58],
                             [0.86, 0.84, 0.79], [0.45, 0.52, 0.60], [0.70, 0.60, 0.45]])
_GLASS = np.array([0.14, 0.17, 0.22])


def _vary(rng: np.random.Generator, color: np.ndarray | tuple[float, ...], amount: float = 0.08
          ) -> np.ndarray:
    return np.clip(np.asarray(color) * rng.uniform(1 - amount, 1 + amount, 3), 0.0, 1.0)


def _vehicle(rng: np.random.Generator, label: int) -> list[Part]:
    """Parts of a vehicle of class ``label`` heading along object +x."""
    if label == CAR:
        L, W = rng.uniform(3.9, 4.8), rng.uniform(1.7, 1.95)
        paint = _vary(rng, _CAR_COLORS[rng.integers(len(_CAR_COLORS))])
        return [_box((0, 0, 0.67), (L / 2, W / 2, 0.35), paint),
                _box((-0.08 * L, 0, 1.27), (0.27 * L, 0.44 * W, 0.25), _vary(rng, _GLASS))
                ] + _wheels(rng, L, W, 0.33)
    if label in (TRUCK, CONSTRUCTION):
        L, W = rng.uniform(6.5, 8.5), 2.4
        cab = _vary(rng, (0.9, 0.7, 0.1) if label == CONSTRUCTION else
                    _CAR_COLORS[rng.integers(len(_CAR_COLORS))])
        parts = [_box((L / 2 - 1.0, 0, 1.6), (1.0, W / 2, 1.15), cab),
                 _box((L / 2 - 0.3, 0, 2.1), (0.32, W / 2 - 0.1, 0.4), _vary(rng, _GLASS))]
        if label == TRUCK:
            parts.append(_box((-1.0, 0, 1.95), (L / 2 - 1.0, W / 2, 1.4),
                              _vary(rng, (0.85, 0.85, 0.85), 0.15)))
        else:  # excavator-like: low body, boom and bucket
            parts += [_box((-1.2, 0, 1.1), (L / 2 - 1.2, W / 2, 0.7), cab),
                      _box((-1.0, 0, 2.6), (1.8, 0.2, 0.2), _vary(rng, (0.3, 0.3, 0.3))),
                      _box((-2.8, 0, 1.9), (0.35, 0.45, 0.7), _vary(rng, (0.3, 0.3, 0.3)))]
        return parts + _wheels(rng, L, W, 0.5)
    if label == BUS:
        L, W = rng.uniform(10.5, 12.0), 2.5
        body = _vary(rng, [(0.85, 0.75, 0.1), (0.75, 0.12, 0.1), (0.2, 0.35, 0.7)][rng.integers(3)])
        return [_box((0, 0, 1.45), (L / 2, W / 2, 1.05), body),
                _box((0, 0, 2.85), (L / 2 - 0.1, W / 2 - 0.05, 0.35), _vary(rng, _GLASS))
                ] + _wheels(rng, L, W, 0.5)
    if label == TRAILER:
        L, W = rng.uniform(6.0, 8.0), 2.45
        return [_box((0, 0, 2.4), (L / 2, W / 2, 1.35), _vary(rng, (0.8, 0.8, 0.78), 0.15)),
                _box((L / 2 - 0.6, 0, 0.55), (0.1, 0.6, 0.5), _vary(rng, (0.3, 0.3, 0.3)))
                ] + _wheels(rng, L * 0.6, W, 0.5)
    if label in (BICYCLE, MOTORCYCLE):
        L, r, w = (1.75, 0.33, 0.06) if label == BICYCLE else (2.0, 0.32, 0.14)
        frame = _vary(rng, _CAR_COLORS[rng.integers(len(_CAR_COLORS))], 0.15)
        dark = np.array([0.06, 0.06, 0.06])
        body_h = 0.1 if label == BICYCLE else 0.25
        return [_box((sx * (L / 2 - r), 0, r), (r, w / 2, r), dark) for sx in (-1, 1)] + [
            _box((0, 0, 2 * r + body_h), (L / 2 - r, w, body_h), frame),
            _box((L / 2 - r - 0.1, 0, 2 * r + 0.35), (0.05, 0.3, 0.04), dark)]
    raise ValueError(f"no vehicle model for raw label {label}")


def _pedestrian(rng: np.random.Generator) -> list[Part]:
    s = rng.uniform(0.9, 1.08)
    skin = _vary(rng, [(0.85, 0.67, 0.55), (0.55, 0.38, 0.28), (0.35, 0.24, 0.18)][rng.integers(3)])
    return [_box((0, 0, 0.42 * s), (0.13, 0.17, 0.42 * s), _vary(rng, (0.15, 0.18, 0.3), 0.3)),
            _box((0, 0, 1.15 * s), (0.14, 0.23, 0.31 * s), _vary(rng, rng.uniform(0.1, 0.9, 3))),
            (Kind.ELLIPSOID, (0.0, 0.0, 1.58 * s), (0.1, 0.09, 0.12 * s), skin, Material.PLAIN)]


class _Builder:
    """Collects objects and their parts, assigning segment ids in creation order."""

    def __init__(self) -> None:
        self.objects: list[tuple[int, tuple[float, float], float, tuple[float, float]]] = []
        self.parts: list[list[Part]] = []

    def add(self, label: int, xy: tuple[float, float], yaw: float, parts: list[Part],
            velocity: tuple[float, float] = (0.0, 0.0)) -> None:
        self.objects.append((label, xy, yaw, velocity))
        self.parts.append(parts)

    def build(self, ground: Ground) -> Town:
        n = len(self.objects)
        box_center, box_wlh = np.zeros((n, 3)), np.zeros((n, 3))
        rows: list[tuple[int, Part]] = []
        for o, parts in enumerate(self.parts):
            lo = np.min([np.subtract(p[1], p[2]) for p in parts], axis=0)
            hi = np.max([np.add(p[1], p[2]) for p in parts], axis=0)
            box_center[o] = (lo + hi) / 2
            box_wlh[o] = (hi[1] - lo[1], hi[0] - lo[0], hi[2] - lo[2])
            rows += [(o, p) for p in parts]
        labels = np.array([obj[0] for obj in self.objects], dtype=np.int64)
        first_id = max(FIRST_OBJECT_ID, int(ground.ids.max()) + 1)
        if first_id + n > np.iinfo(np.uint16).max:
            raise ConfigError(f"the town has {n} objects; segment ids must stay below 65535 "
                              f"(use fewer frames per scene)")
        label_of_row = labels[[r[0] for r in rows]]
        return Town(
            obj_instance=first_id + np.arange(n, dtype=np.int64), obj_label=labels,
            obj_pos=np.array([(*obj[1], 0.0) for obj in self.objects], dtype=np.float64),
            obj_yaw=np.array([obj[2] for obj in self.objects], dtype=np.float64),
            obj_vel=np.array([(*obj[3], 0.0) for obj in self.objects], dtype=np.float64),
            obj_box_center=box_center, obj_box_wlh=box_wlh,
            prim_obj=np.array([r[0] for r in rows], dtype=np.int64),
            prim_kind=np.array([r[1][0] for r in rows], dtype=np.int8),
            prim_offset=np.array([r[1][1] for r in rows], dtype=np.float64),
            prim_half=np.array([r[1][2] for r in rows], dtype=np.float64),
            prim_yaw=np.zeros(len(rows)),
            prim_color=np.array([r[1][3] for r in rows], dtype=np.float32),
            prim_material=np.array([r[1][4] for r in rows], dtype=np.int8),
            prim_reflect=np.array([_REFLECT[int(lab)] for lab in label_of_row], np.float32),
            ground=ground)


def _ground(rng: np.random.Generator, x_lo: float, x_hi: float) -> Ground:
    n = int((x_hi - x_lo) / 30) + 1  # patches per strip, 15..45 m long
    bounds = x_lo + np.cumsum(rng.uniform(15.0, 45.0, (4, n - 1)), axis=1)
    paved = rng.random((4, n)) < np.array([0.15, 0.3, 0.15, 0.3])[:, None]
    grass = np.array([0.30, 0.47, 0.20]) * rng.uniform(0.8, 1.2, (4, n, 1))
    grass[..., 0] *= rng.uniform(0.8, 1.3, (4, n))
    paving = np.array([0.52, 0.49, 0.45]) * rng.uniform(0.85, 1.15, (4, n, 1))
    labels = np.r_[DRIVEABLE, SIDEWALK, SIDEWALK, np.where(paved, OTHER_FLAT, TERRAIN).ravel()]
    colors = np.concatenate([
        [_vary(rng, (0.29, 0.29, 0.31), 0.05)], [_vary(rng, (0.62, 0.60, 0.57), 0.05)] * 2,
        np.where(paved[..., None], paving, grass).reshape(-1, 3)]).astype(np.float32)
    ids = np.r_[ROAD_ID, 2, 3, FIRST_PATCH_ID + np.arange(4 * n)]
    reflect = np.array([_REFLECT[int(label)] for label in labels], dtype=np.float32)
    return Ground(bounds, ids.astype(np.int64), labels.astype(np.int64), colors, reflect)


def _roadside(b: _Builder, rng: np.random.Generator, side: int, x_lo: float, x_hi: float,
              focus: tuple[float, float]) -> None:
    """Static objects on one side (side = -1 right, +1 left): buildings, verge, parked vehicles;
    the road works go somewhere along ``focus`` (the ego's path), so every drive passes them."""
    yaw_along = 0.0 if side < 0 else np.pi  # parked vehicles face the traffic direction
    x = x_lo + rng.uniform(0, 10)
    while x < x_hi:  # buildings
        length, depth, height = rng.uniform(8, 28), rng.uniform(8, 16), rng.uniform(5, 20)
        color = _vary(rng, _BUILDING_COLORS[rng.integers(len(_BUILDING_COLORS))])
        y = side * (VERGE_OUTER_M + rng.uniform(1.0, 4.0) + depth / 2)
        b.add(MANMADE, (x + length / 2, y), 0.0,
              [_box((0, 0, height / 2), (length / 2, depth / 2, height / 2), color,
                    Material.FACADE)])
        x += length + rng.uniform(2.0, 14.0)
    x = x_lo + rng.uniform(0, 8)
    while x < x_hi:  # verge: trees, bushes, street lights, signs
        kind = rng.random()
        y = side * rng.uniform(10.2, 11.8)
        if kind < 0.5:
            trunk_h, crown = rng.uniform(1.8, 3.2), rng.uniform(1.3, 2.6)
            leaf = _vary(rng, (0.17, 0.38, 0.13), 0.2)
            b.add(VEGETATION, (x, y), 0.0, [
                (Kind.CYLINDER, (0.0, 0.0, trunk_h / 2), (0.2, 0.2, trunk_h / 2),
                 _vary(rng, (0.33, 0.24, 0.16)), Material.PLAIN),
                (Kind.ELLIPSOID, (0.0, 0.0, trunk_h + crown * 0.8),
                 (crown, crown * rng.uniform(0.85, 1.15), crown * rng.uniform(0.9, 1.3)), leaf,
                 Material.FOLIAGE)])
        elif kind < 0.7:
            r = rng.uniform(0.5, 1.1)
            b.add(VEGETATION, (x, y), 0.0, [
                (Kind.ELLIPSOID, (0.0, 0.0, 0.6 * r), (r, r * 1.2, 0.8 * r),
                 _vary(rng, (0.22, 0.42, 0.16), 0.2), Material.FOLIAGE)])
        elif kind < 0.88:
            h = rng.uniform(6.0, 8.0)
            grey = _vary(rng, (0.45, 0.46, 0.48), 0.05)
            b.add(MANMADE, (x, side * 9.5), 0.0, [
                (Kind.CYLINDER, (0.0, 0.0, h / 2), (0.1, 0.1, h / 2), grey, Material.PLAIN),
                _box((0.0, -side * 0.9, h - 0.1), (0.08, 0.9, 0.07), grey)])
        else:
            plates = [(0.1, 0.25, 0.65), (0.8, 0.1, 0.1), (0.9, 0.75, 0.1)]
            plate = _vary(rng, plates[rng.integers(3)])
            b.add(MANMADE, (x, side * 9.3), 0.0, [
                (Kind.CYLINDER, (0.0, 0.0, 1.25), (0.05, 0.05, 1.25), _vary(rng, (0.5, 0.5, 0.5)),
                 Material.PLAIN), _box((0.0, 0.0, 2.7), (0.04, 0.35, 0.35), plate)])
        x += rng.uniform(4.0, 12.0)
    x = x_lo + rng.uniform(0, 30)
    while x < x_hi:  # parked bicycles / motorcycles on the sidewalk edge
        label = BICYCLE if rng.random() < 0.6 else MOTORCYCLE
        b.add(label, (x, side * 8.6), rng.choice([0.0, np.pi]), _vehicle(rng, label))
        x += rng.uniform(15.0, 60.0)
    work_lo = rng.uniform(focus[0] + 12.0, focus[1] + 30.0)
    work_hi = work_lo + rng.uniform(14.0, 24.0)
    xb = work_lo
    while xb + 2.0 < work_hi:  # road works: barriers along the lane edge, cones, an excavator
        b.add(BARRIER, (xb + 1.0, side * 3.85), 0.0, [
            _box((0, 0, 0.5), (0.95, 0.22, 0.5), _vary(rng, [(0.85, 0.15, 0.12),
                                                             (0.9, 0.9, 0.88)][int(xb) % 2]))])
        xb += 2.05
    for xc in (work_lo - 4.0, work_lo - 2.0, work_hi + 1.5, work_hi + 3.5):
        b.add(TRAFFIC_CONE, (xc, side * 3.75), 0.0, [
            (Kind.CYLINDER, (0.0, 0.0, 0.35), (0.15, 0.15, 0.35), _vary(rng, (0.95, 0.42, 0.05)),
             Material.PLAIN)])
    b.add(CONSTRUCTION, ((work_lo + work_hi) / 2, side * 5.0), yaw_along,
          _vehicle(rng, CONSTRUCTION))
    x = x_lo + rng.uniform(0, 6)
    while x < x_hi:  # parked vehicles, skipping the road works
        u = rng.random()
        label = CAR if u < 0.72 else TRUCK if u < 0.8 else BUS if u < 0.86 else \
            TRAILER if u < 0.92 else MOTORCYCLE
        parts = _vehicle(rng, label)
        length = max(p[1][0] + p[2][0] for p in parts) - min(p[1][0] - p[2][0] for p in parts)
        if not (x + length < work_lo - 5.0 or x > work_hi + 4.0):
            x = work_hi + 4.5
            continue
        if rng.random() < 0.8:
            b.add(label, (x + length / 2, side * 4.8), yaw_along, parts)
        x += length + rng.uniform(1.0, 8.0)
    for direction in (1.0, -1.0):  # pedestrians walking along the sidewalk
        speed = rng.uniform(1.1, 1.5)
        y = side * (6.9 if direction * side < 0 else 7.9)
        for xp in np.sort(rng.uniform(x_lo, x_hi, int((x_hi - x_lo) / 45))):
            b.add(PEDESTRIAN, (xp, y), 0.0 if direction > 0 else np.pi, _pedestrian(rng),
                  (direction * speed, 0.0))


def build_town(rng: np.random.Generator, x_range: tuple[float, float], ego_x0: float,
               ego_speed: float, duration_s: float) -> Town:
    """A town spanning world x in ``x_range`` with traffic around an ego car starting at ``ego_x0``
    in the right lane and driving at ``ego_speed`` (m/s) for ``duration_s``."""
    x_lo, x_hi = x_range
    b = _Builder()
    for side in (-1, 1):
        _roadside(b, rng, side, x_lo, x_hi, (ego_x0, ego_x0 + ego_speed * duration_s))
    lane_y = LANE_WIDTH_M / 2
    x = ego_x0 + rng.uniform(14.0, 20.0)  # ego lane: a platoon at the ego's speed
    for _ in range(4):
        label = CAR if rng.random() < 0.8 else TRUCK
        parts = _vehicle(rng, label)
        half = max(p[1][0] + p[2][0] for p in parts)
        b.add(label, (x + half, -lane_y), 0.0, parts, (ego_speed, 0.0))
        x += 2 * half + rng.uniform(10.0, 30.0)
    b.add(CAR, (ego_x0 - rng.uniform(12.0, 18.0), -lane_y), 0.0, _vehicle(rng, CAR),
          (ego_speed, 0.0))
    speed = rng.uniform(7.0, 11.0)  # oncoming stream, one speed so nobody overtakes
    x = x_lo - 10.0
    while x < x_hi + speed * duration_s + 10.0:
        u = rng.random()
        label = CAR if u < 0.75 else TRUCK if u < 0.9 else BUS
        parts = _vehicle(rng, label)
        half = max(p[1][0] + p[2][0] for p in parts)
        b.add(label, (x + half, lane_y), np.pi, parts, (-speed, 0.0))
        x += 2 * half + rng.uniform(12.0, 50.0)
    return b.build(_ground(rng, x_lo, x_hi))
