"""The synthetic drive: an ego car with the nuScenes-like rig driving through a procedural town.

Everything is a pure function of ``(config, scene_index)``: the same inputs give bit-identical
arrays. Example::

    from seal_train.synth import SynthConfig, generate_drive
    for scene in generate_drive(SynthConfig(scenes=1, frames=5)):
        print(scene.name, len(scene.frames), scene.frames[0].frame.points.shape)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from seal_ros.core.transforms import camera_from_lidar, rigid
from seal_ros.errors import ConfigError
from seal_ros.labels import LabelMap
from seal_train.sources.frame import CameraView, Frame
from seal_train.synth.appearance import Look
from seal_train.synth.raycast import Primitives
from seal_train.synth.record import CAMERA_NAMES, POINT_CHANNELS, SynthFrame, SynthScene
from seal_train.synth.render import CAMERA_FAR_M, render_camera, scan_lidar
from seal_train.synth.rig import (
    PinholeCamera,
    SpinningLidar,
    build_cameras,
    build_lidar,
    yaw_rotation,
)
from seal_train.synth.town import LANE_WIDTH_M, Town, build_town

log = logging.getLogger(__name__)

TILE_W = 16
"""Rays per tile row; ``lidar_azimuth_steps`` must be a multiple of it."""
TOWN_MARGIN_M = 220.0
"""Town extent before the ego's start and after its end."""


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; every field has a working default.

    Attributes:
        scenes: number of scenes (each its own town and drive).
        frames: LiDAR scans (keyframes) per scene.
        seed: master seed; scene ``i`` depends only on ``(seed, i)``.
        image_width, image_height: camera image size in pixels (all six cameras).
        frame_period_s: time between scans in seconds.
        camera_offsets: if False every camera fires exactly at the LiDAR stamp.
        camera_offsets_ms: per camera in :data:`CAMERA_NAMES` order, its stamp minus the LiDAR
            stamp in milliseconds; CAM_FRONT's must be 0.
        lidar_beams: number of beams, evenly spread over the HDL-32E's -30.67..+10.67 degrees.
        lidar_azimuth_steps: firings per revolution (multiple of 16).
        lidar_max_range_m: returns farther than this are dropped.
        lidar_range_noise_m: standard deviation of the Gaussian range noise.
        ego_speed_mps: (min, max) ego speed, drawn once per scene.
        image_noise: standard deviation of per-pixel sensor noise in 0..255 grey levels.
        start_stamp_ns: stamp of the first scan of scene 0.
        scene_spacing_s: time between the starts of consecutive scenes.
    """

    scenes: int = 2
    frames: int = 40
    seed: int = 0
    image_width: int = 384
    image_height: int = 216
    frame_period_s: float = 0.5
    camera_offsets: bool = True
    camera_offsets_ms: tuple[float, ...] = (0.0, 8.0, 17.0, 25.0, -17.0, -8.0)
    lidar_beams: int = 32
    lidar_azimuth_steps: int = 1088
    lidar_max_range_m: float = 70.0
    lidar_range_noise_m: float = 0.01
    ego_speed_mps: tuple[float, float] = (6.0, 9.0)
    image_noise: float = 2.5
    start_stamp_ns: int = 1_700_000_000_000_000_000
    scene_spacing_s: float = 3600.0

    def __post_init__(self) -> None:
        problems = []
        if self.scenes < 0 or self.frames < 1:
            problems.append(f"scenes >= 0 and frames >= 1 (got {self.scenes}, {self.frames})")
        if self.image_width < 16 or self.image_height < 16:
            problems.append(f"image at least 16x16 (got {self.image_width}x{self.image_height})")
        if self.frame_period_s <= 0:
            problems.append(f"frame_period_s > 0 (got {self.frame_period_s})")
        if len(self.camera_offsets_ms) != len(CAMERA_NAMES) or self.camera_offsets_ms[0] != 0:
            problems.append(f"camera_offsets_ms: {len(CAMERA_NAMES)} values with CAM_FRONT's = 0 "
                            f"(got {self.camera_offsets_ms})")
        if any(abs(v) >= 1000 * self.frame_period_s / 2 for v in self.camera_offsets_ms):
            problems.append("camera_offsets_ms within half a frame period")
        steps = self.lidar_azimuth_steps
        if self.lidar_beams < 2 or steps % TILE_W or steps < TILE_W:
            problems.append(f"lidar_beams >= 2 and lidar_azimuth_steps a positive multiple of "
                            f"{TILE_W} (got {self.lidar_beams}, {self.lidar_azimuth_steps})")
        if self.lidar_max_range_m <= 1 or self.lidar_range_noise_m < 0 or self.image_noise < 0:
            problems.append("lidar_max_range_m > 1, lidar_range_noise_m >= 0, image_noise >= 0")
        if not 0 < self.ego_speed_mps[0] <= self.ego_speed_mps[1] <= 15:
            problems.append(f"0 < ego_speed_mps min <= max <= 15 (got {self.ego_speed_mps})")
        if problems:
            raise ConfigError("invalid SynthConfig: need " + "; ".join(problems))

    @property
    def offsets_ns(self) -> tuple[int, ...]:
        """Per camera stamp offset from the LiDAR stamp in nanoseconds."""
        if not self.camera_offsets:
            return (0,) * len(CAMERA_NAMES)
        return tuple(int(round(v * 1e6)) for v in self.camera_offsets_ms)


@dataclass(frozen=True)
class EgoPath:
    """Ego motion along the right lane: constant speed with a gentle sinusoidal sway."""

    x0: float
    speed: float
    lane_y: float
    sway_m: float
    sway_period_s: float
    phase: float

    def pose(self, time_s: float) -> np.ndarray:
        """(4, 4) float64 T_world_ego at ``time_s`` seconds from the scene start."""
        w = 2.0 * np.pi / self.sway_period_s
        y = self.lane_y + self.sway_m * np.sin(w * time_s + self.phase)
        yaw = np.arctan2(self.sway_m * w * np.cos(w * time_s + self.phase), self.speed)
        return rigid(yaw_rotation(yaw), (self.x0 + self.speed * time_s, y, 0.0))


def scene_name(scene_index: int) -> str:
    return f"scene-{scene_index:04d}"


def generate_scene(config: SynthConfig, scene_index: int) -> SynthScene:
    """Render scene ``scene_index`` of the drive: ``config.frames`` scans with six cameras each."""
    if scene_index < 0:
        raise ConfigError(f"scene_index must be >= 0, got {scene_index}")
    name = scene_name(scene_index)
    town_seq, look_seq, ego_seq = np.random.SeedSequence([config.seed, scene_index]).spawn(3)
    ego_rng = np.random.default_rng(ego_seq)
    path = EgoPath(x0=0.0, speed=float(ego_rng.uniform(*config.ego_speed_mps)),
                   lane_y=-LANE_WIDTH_M / 2, sway_m=float(ego_rng.uniform(0.1, 0.3)),
                   sway_period_s=float(ego_rng.uniform(6.0, 12.0)),
                   phase=float(ego_rng.uniform(0, 2 * np.pi)))
    duration = (config.frames - 1) * config.frame_period_s + 0.1
    town = build_town(np.random.default_rng(town_seq),
                      (path.x0 - TOWN_MARGIN_M, path.x0 + path.speed * duration + TOWN_MARGIN_M),
                      path.x0, path.speed, duration)
    look = Look.random(np.random.default_rng(look_seq))
    lidar = build_lidar(config.lidar_beams, config.lidar_azimuth_steps, config.lidar_max_range_m,
                        tile_w=TILE_W)
    cameras = build_cameras(config.image_width, config.image_height, tile_w=TILE_W)
    label_map = LabelMap.builtin("nuscenes")
    scene_start_ns = config.start_stamp_ns + int(round(scene_index * config.scene_spacing_s * 1e9))
    frames = tuple(_frame(config, name, k, scene_start_ns, path, town, look, lidar, cameras,
                          label_map) for k in range(config.frames))
    description = (f"synthetic drive, seed {config.seed}, ego {path.speed:.1f} m/s, "
                   f"{len(town.obj_label)} objects")
    return SynthScene(name, frames, description)


def generate_drive(config: SynthConfig) -> Iterator[SynthScene]:
    """Scenes 0 .. ``config.scenes - 1``, generated lazily one at a time."""
    for scene_index in range(config.scenes):
        yield generate_scene(config, scene_index)


def _frame(config: SynthConfig, name: str, k: int, scene_start_ns: int, path: EgoPath,
           town: Town, look: Look, lidar: SpinningLidar,
           cameras: tuple[PinholeCamera, ...], label_map: LabelMap) -> SynthFrame:
    time_s = k * config.frame_period_s
    stamp_ns = scene_start_ns + int(round(time_s * 1e9))
    frame_id = f"{name}/{k:06d}"
    T_world_ego = path.pose(time_s)
    near = T_world_ego[:2, 3]
    prims: dict[int, Primitives] = {}

    def prims_at(offset_ns: int) -> Primitives:
        if offset_ns not in prims:
            prims[offset_ns] = town.primitives_at(time_s + offset_ns * 1e-9, near, CAMERA_FAR_M)
        return prims[offset_ns]

    seed = [config.seed, int(name.split("-")[1]), k]
    scan = scan_lidar(lidar, T_world_ego @ lidar.T_ego_lidar, prims_at(0), town,
                      np.random.default_rng(seed + [0]), config.lidar_range_noise_m)
    views, T_world_ego_cams = [], []
    for index, (camera, offset_ns) in enumerate(zip(cameras, config.offsets_ns, strict=True)):
        T_world_ego_cam = path.pose(time_s + offset_ns * 1e-9)
        image, mask = render_camera(camera, T_world_ego_cam @ camera.T_ego_cam, prims_at(offset_ns),
                                    town, look, np.random.default_rng(seed + [index + 1]),
                                    config.image_noise)
        T_cam_lidar = camera_from_lidar(lidar.T_ego_lidar, T_world_ego, T_world_ego_cam,
                                        camera.T_ego_cam)
        views.append(CameraView(camera.name, f"{frame_id}/{camera.name}", image, camera.K.copy(),
                                T_cam_lidar, stamp_ns + offset_ns, mask))
        T_world_ego_cams.append(T_world_ego_cam)
    points = np.concatenate([scan.xyz, scan.intensity[:, None], scan.ring[:, None]], axis=1)
    frame = Frame(frame_id=frame_id, sequence=name, points=points.astype(np.float32),
                  channels=POINT_CHANNELS, stamp_ns=stamp_ns, T_ego_lidar=lidar.T_ego_lidar.copy(),
                  T_world_ego=T_world_ego, cameras=tuple(views), labels=scan.label,
                  label_map=label_map, instances=scan.segment)
    return SynthFrame(frame=frame, index=k,
                      T_ego_cam=tuple(camera.T_ego_cam.copy() for camera in cameras),
                      T_world_ego_cam=tuple(T_world_ego_cams),
                      boxes=town.boxes_at(time_s, near, config.lidar_max_range_m))
