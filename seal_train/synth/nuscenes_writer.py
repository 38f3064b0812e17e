"""Write synthetic drives as a nuScenes-format dataset that the real nuscenes-devkit opens.

Layout under ``root`` (as nuScenes ships it, plus Seal's oracle and split folders)::

    <version>/{category,attribute,visibility,instance,sensor,calibrated_sensor,ego_pose,log,scene,
               sample,sample_data,sample_annotation,map,lidarseg}.json
    samples/LIDAR_TOP/<scene>__LIDAR_TOP__<stamp_us>.pcd.bin    N x 5 float32 (x,y,z,i,ring)
    samples/CAM_*/<scene>__CAM_*__<stamp_us>.jpg                  JPEG, quality 95
    sweeps/...                                                    non-key frames (keyframe_every>1)
    lidarseg/<version>/<lidar token>_lidarseg.bin                 uint8 raw ids (category index)
    maps/<token>.png                                              a small blank semantic prior
    seal_oracle/<camera token>.png                                uint16 instance mask
    seal_oracle/<lidar token>_instances.bin                       uint32 per-point instance id
    splits/{train,val}.txt                                        scenes but the last / the last

Tokens are md5 hashes of names (deterministic). Each sample_data has its own ego_pose (same token),
at its own timestamp. Timestamps are microseconds; synthetic stamps in ns are rounded to the
nearest microsecond (exact when they are multiples of 1000 ns; a warning says when not).

The split names ``train`` and ``val`` of :class:`~seal_train.sources.nuscenes.NuScenesSource` read
``splits/``: every scene but the last, and the last (one scene: both), so a probe scores
held-out scenes here as on nuScenes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seal_ros.core.transforms import camera_from_lidar
from seal_ros.errors import DatasetError
from seal_ros.labels import LabelMap
from seal_train.sources.nuscenes import LIDAR_CHANNEL, ORACLE_DIR, POINT_CHANNELS
from seal_train.sources.nuscenes_tables import matrix_to_pose
from seal_train.sources.splits import SPLIT_DIR, write_split_files
from seal_train.synth.record import SynthBox, SynthFrame, SynthScene

log = logging.getLogger(__name__)

JPEG_QUALITY = 95
T_CAM_LIDAR_ATOL = 1e-6
"""How far a camera's T_cam_lidar may stray from the calibration chain the tables store."""
ATTRIBUTES = ("vehicle.moving", "vehicle.stopped", "vehicle.parked", "cycle.with_rider",
              "cycle.without_rider", "pedestrian.sitting_lying_down", "pedestrian.standing",
              "pedestrian.moving")
VISIBILITY = (("1", "v0-40"), ("2", "v40-60"), ("3", "v60-80"), ("4", "v80-100"))
MOVING_MPS = 0.2
OUTPUTS = ("samples", "sweeps", "lidarseg", "maps", ORACLE_DIR, SPLIT_DIR)
"""Folders (besides ``<version>``) the writer owns and clears with ``overwrite=True``."""


def _token(*parts: object) -> str:
    return hashlib.md5("/".join(["seal-synth", *map(str, parts)]).encode()).hexdigest()


def _us(stamp_ns: int, rounded: list[int]) -> int:
    if stamp_ns % 1000:
        rounded.append(stamp_ns)
    return (int(stamp_ns) + 500) // 1000


class _Writer:
    """Accumulates table records while data files are written."""

    def __init__(self, root: Path, version: str) -> None:
        self.root = root
        self.version = version
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in (
            "category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor",
            "ego_pose", "log", "scene", "sample", "sample_data", "sample_annotation", "map",
            "lidarseg")}
        self.rounded: list[int] = []
        self._calibrations: set[str] = set()
        self._sensors: dict[str, str] = {}
        self.labels = LabelMap.builtin("nuscenes").raw_names
        self.category_tokens = {raw: _token("category", name) for raw, name in self.labels.items()}
        for raw, name in sorted(self.labels.items()):
            self.tables["category"].append({"token": self.category_tokens[raw], "name": name,
                                            "description": "", "index": raw})
        self.attribute_tokens = {name: _token("attribute", name) for name in ATTRIBUTES}
        for name in ATTRIBUTES:
            self.tables["attribute"].append({"token": self.attribute_tokens[name], "name": name,
                                             "description": ""})
        for token, level in VISIBILITY:
            self.tables["visibility"].append({"token": token, "level": level,
                                              "description": f"visibility of whole object is "
                                                             f"between {level[1:]} %"})

    # ------------------------------------------------------------------------------- records --

    def sensor(self, channel: str, modality: str) -> str:
        if channel not in self._sensors:
            self._sensors[channel] = _token("sensor", channel)
            self.tables["sensor"].append({"token": self._sensors[channel], "channel": channel,
                                          "modality": modality})
        return self._sensors[channel]

    def calibration(self, channel: str, modality: str, T_ego_sensor: np.ndarray,
                    K: np.ndarray | None, where: str) -> str:
        try:
            translation, rotation = matrix_to_pose(T_ego_sensor)
        except DatasetError as err:
            raise DatasetError(f"{where}: T_ego_{channel} {err}") from None
        intrinsic = [] if K is None else [[float(v) for v in row] for row in K]
        token = _token("calibrated_sensor", channel, translation, rotation, intrinsic)
        if token not in self._calibrations:
            self._calibrations.add(token)
            self.tables["calibrated_sensor"].append({
                "token": token, "sensor_token": self.sensor(channel, modality),
                "translation": translation, "rotation": rotation, "camera_intrinsic": intrinsic})
        return token

    def ego_pose(self, token: str, stamp_us: int, T_world_ego: np.ndarray, where: str) -> str:
        try:
            translation, rotation = matrix_to_pose(T_world_ego)
        except DatasetError as err:
            raise DatasetError(f"{where}: T_world_ego {err}") from None
        self.tables["ego_pose"].append({"token": token, "timestamp": stamp_us,
                                        "rotation": rotation, "translation": translation})
        return token

    def attributes(self, box: SynthBox) -> list[str]:
        name = self.labels.get(box.raw_label, "")
        moving = float(np.linalg.norm(np.asarray(box.velocity, dtype=np.float64)[:2])) > MOVING_MPS
        if name in ("vehicle.bicycle", "vehicle.motorcycle"):
            chosen = "cycle.with_rider" if moving else "cycle.without_rider"
        elif name.startswith("vehicle."):
            chosen = "vehicle.moving" if moving else "vehicle.parked"
        elif name.startswith("human.pedestrian."):
            chosen = "pedestrian.moving" if moving else "pedestrian.standing"
        else:
            return []
        return [self.attribute_tokens[chosen]]

    # ------------------------------------------------------------------------------- scenes --

    def scene(self, scene: SynthScene, keyframe_every: int) -> None:
        where = f"scene {scene.name}"
        if not scene.frames:
            raise DatasetError(f"{where}: has no frames")
        frames = sorted(scene.frames, key=lambda f: f.index)
        first_us = _us(frames[0].frame.stamp_ns, self.rounded)
        log_token = _token("log", scene.name)
        date = datetime.fromtimestamp(first_us / 1e6, tz=UTC).strftime("%Y-%m-%d")
        self.tables["log"].append({"token": log_token, "logfile": scene.name,
                                   "vehicle": "seal-synth", "date_captured": date,
                                   "location": "seal-synthetic-town"})
        scene_token = _token("scene", scene.name)
        samples: list[dict[str, Any]] = []
        last_sd: dict[str, dict[str, Any]] = {}  # channel -> previous sample_data record
        last_ann: dict[int, dict[str, Any]] = {}  # instance -> previous annotation
        instances: dict[int, dict[str, Any]] = {}
        prev_us = -1
        for position, synth in enumerate(frames):
            key = position % keyframe_every == 0
            frame = synth.frame
            stamp_us = _us(frame.stamp_ns, self.rounded)
            if stamp_us <= prev_us:
                raise DatasetError(f"{where}: frame {synth.index} stamp {frame.stamp_ns} ns does "
                                   f"not follow the previous frame's; stamps must increase")
            prev_us = stamp_us
            if key:
                sample = {"token": _token("sample", scene.name, synth.index), "timestamp": stamp_us,
                          "prev": samples[-1]["token"] if samples else "", "next": "",
                          "scene_token": scene_token}
                if samples:
                    samples[-1]["next"] = sample["token"]
                samples.append(sample)
            self.frame(scene.name, synth, samples[-1]["token"], key, last_sd)
            if key:
                for box in synth.boxes:
                    self.annotation(scene.name, synth, box, samples[-1]["token"], last_ann,
                                    instances)
        self.tables["sample"].extend(samples)
        self.tables["instance"].extend(instances.values())
        self.tables["scene"].append({
            "token": scene_token, "log_token": log_token, "nbr_samples": len(samples),
            "first_sample_token": samples[0]["token"], "last_sample_token": samples[-1]["token"],
            "name": scene.name, "description": scene.description})

    def sample_data(self, token: str, sample_token: str, channel: str, stamp_us: int,
                    calibration: str, filename: str, key: bool, size: tuple[int, int],
                    last_sd: dict[str, dict[str, Any]]) -> None:
        prev = last_sd.get(channel)
        record = {"token": token, "sample_token": sample_token, "ego_pose_token": token,
                  "calibrated_sensor_token": calibration, "timestamp": stamp_us,
                  "fileformat": "pcd" if channel == LIDAR_CHANNEL else "jpg",
                  "is_key_frame": key, "height": size[0], "width": size[1],
                  "filename": filename, "prev": prev["token"] if prev else "", "next": ""}
        if prev is not None:
            prev["next"] = token
        last_sd[channel] = record
        self.tables["sample_data"].append(record)

    def frame(self, scene: str, synth: SynthFrame, sample_token: str, key: bool,
              last_sd: dict[str, dict[str, Any]]) -> None:
        frame = synth.frame
        where = f"scene {scene} frame {synth.index}"
        if frame.channels != POINT_CHANNELS:
            raise DatasetError(f"{where}: point channels {frame.channels}, expected "
                               f"{POINT_CHANNELS} (nuScenes .pcd.bin layout)")
        n_cams = len(frame.cameras)
        if len(synth.T_ego_cam) != n_cams or len(synth.T_world_ego_cam) != n_cams:
            raise DatasetError(f"{where}: {n_cams} cameras but {len(synth.T_ego_cam)} T_ego_cam "
                               f"and {len(synth.T_world_ego_cam)} T_world_ego_cam")
        folder = "samples" if key else "sweeps"
        stamp_us = _us(frame.stamp_ns, self.rounded)
        lidar_token = _token("sample_data", scene, LIDAR_CHANNEL, synth.index)
        filename = f"{folder}/{LIDAR_CHANNEL}/{scene}__{LIDAR_CHANNEL}__{stamp_us}.pcd.bin"
        self._write_array(filename, np.ascontiguousarray(frame.points, dtype=np.float32))
        calib = self.calibration(LIDAR_CHANNEL, "lidar", frame.T_ego_lidar, None, where)
        self.ego_pose(lidar_token, stamp_us, frame.T_world_ego, where)
        self.sample_data(lidar_token, sample_token, LIDAR_CHANNEL, stamp_us, calib, filename, key,
                         (0, 0), last_sd)
        if key and frame.labels is not None:
            labels = frame.labels
            bad = sorted(set(np.unique(labels).tolist()) - set(self.labels))
            if bad:
                raise DatasetError(f"{where}: raw labels {bad[:10]} are not nuScenes lidarseg ids "
                                   f"(0..{max(self.labels)})")
            label_file = f"lidarseg/{self.version}/{lidar_token}_lidarseg.bin"
            self._write_array(label_file, labels.astype(np.uint8))
            self.tables["lidarseg"].append({"token": lidar_token,
                                            "sample_data_token": lidar_token,
                                            "filename": label_file})
        if frame.instances is not None:
            self._write_array(f"{ORACLE_DIR}/{lidar_token}_instances.bin",
                              frame.instances.astype(np.uint32))
        names = [cam.name for cam in frame.cameras]
        if len(set(names)) != len(names) or LIDAR_CHANNEL in names:
            raise DatasetError(f"{where}: camera names {names} must be unique and not "
                               f"{LIDAR_CHANNEL}")
        for cam, T_ego_cam, T_world_ego_cam in zip(frame.cameras, synth.T_ego_cam,
                                                   synth.T_world_ego_cam, strict=True):
            cam_where = f"{where} camera {cam.name}"
            chain = camera_from_lidar(frame.T_ego_lidar, frame.T_world_ego,
                                   np.asarray(T_world_ego_cam, np.float64),
                                   np.asarray(T_ego_cam, np.float64))
            error = float(np.abs(chain - cam.T_cam_lidar).max())
            if error > T_CAM_LIDAR_ATOL:
                raise DatasetError(f"{cam_where}: T_cam_lidar differs by {error:.3g} from "
                                   f"inv(T_ego_cam) @ inv(T_world_ego_cam) @ T_world_ego @ "
                                   f"T_ego_lidar, which is what nuScenes tables can store")
            cam_us = _us(cam.stamp_ns, self.rounded)
            token = _token("sample_data", scene, cam.name, synth.index)
            filename = f"{folder}/{cam.name}/{scene}__{cam.name}__{cam_us}.jpg"
            path = self._path(filename)
            if not cv2.imwrite(str(path), np.ascontiguousarray(cam.image[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise DatasetError(f"{path}: OpenCV could not write the JPEG")
            calib = self.calibration(cam.name, "camera", np.asarray(T_ego_cam, np.float64),
                                     cam.K, cam_where)
            self.ego_pose(token, cam_us, np.asarray(T_world_ego_cam, np.float64), cam_where)
            self.sample_data(token, sample_token, cam.name, cam_us, calib, filename, key,
                             (cam.height, cam.width), last_sd)
            if cam.instance_mask is not None:
                mask_path = self._path(f"{ORACLE_DIR}/{token}.png")
                if not cv2.imwrite(str(mask_path), cam.instance_mask):
                    raise DatasetError(f"{mask_path}: OpenCV could not write the uint16 PNG")

    def annotation(self, scene: str, synth: SynthFrame, box: SynthBox, sample_token: str,
                   last_ann: dict[int, dict[str, Any]],
                   instances: dict[int, dict[str, Any]]) -> None:
        where = f"scene {scene} frame {synth.index} box {box.instance}"
        if box.raw_label not in self.category_tokens:
            raise DatasetError(f"{where}: raw label {box.raw_label} is not a nuScenes category")
        token = _token("sample_annotation", scene, synth.index, box.instance)
        inst = instances.get(box.instance)
        if inst is None:
            inst = {"token": _token("instance", scene, box.instance),
                    "category_token": self.category_tokens[box.raw_label], "nbr_annotations": 0,
                    "first_annotation_token": token, "last_annotation_token": token}
            instances[box.instance] = inst
        inst["nbr_annotations"] += 1
        inst["last_annotation_token"] = token
        prev = last_ann.get(box.instance)
        if prev is not None:
            prev["next"] = token
        frame = synth.frame
        points = 0 if frame.instances is None else int((frame.instances == box.instance).sum())
        half = float(box.yaw) / 2.0
        record = {"token": token, "sample_token": sample_token, "instance_token": inst["token"],
                  "visibility_token": "4", "attribute_tokens": self.attributes(box),
                  "translation": [float(v) for v in box.center],
                  "size": [float(v) for v in box.size_wlh],
                  "rotation": [float(np.cos(half)), 0.0, 0.0, float(np.sin(half))],
                  "prev": prev["token"] if prev else "", "next": "",
                  "num_lidar_pts": points, "num_radar_pts": 0}
        last_ann[box.instance] = record
        self.tables["sample_annotation"].append(record)

    # ---------------------------------------------------------------------------------- files --

    def _path(self, filename: str) -> Path:
        path = self.root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _write_array(self, filename: str, array: np.ndarray) -> None:
        array.tofile(self._path(filename))

    def finish(self) -> None:
        logs = [rec["token"] for rec in self.tables["log"]]
        map_token = _token("map", *logs)
        map_file = f"maps/{map_token}.png"
        cv2.imwrite(str(self._path(map_file)), np.zeros((64, 64), dtype=np.uint8))
        self.tables["map"].append({"token": map_token, "log_tokens": logs,
                                   "category": "semantic_prior", "filename": map_file})
        (self.root / f"lidarseg/{self.version}").mkdir(parents=True, exist_ok=True)
        if not self.tables["lidarseg"]:
            del self.tables["lidarseg"]  # no labels at all: no lidarseg task
        table_root = self.root / self.version
        table_root.mkdir(parents=True, exist_ok=True)
        for name, records in self.tables.items():
            (table_root / f"{name}.json").write_text(json.dumps(records, indent=0))
        if self.rounded:
            log.warning("%d stamps were not whole microseconds (e.g. %d ns) and were rounded "
                        "to the nearest microsecond", len(self.rounded), self.rounded[0])


def write_nuscenes(scenes: Iterable[SynthScene], root: str | Path, version: str = "v1.0-mini",
                   overwrite: bool = False, keyframe_every: int = 1) -> Path:
    """Write synthetic scenes as a nuScenes-format dataset (tables, lidarseg, oracle masks).

    Args:
        scenes: the drives to write; scene names must be unique.
        root: dataset root (``NuScenes(version=version, dataroot=root)`` opens it).
        version: table folder name.
        overwrite: allow writing into a non-empty ``root``; the writer's own folders there
            (``<version>``, samples, sweeps, lidarseg, maps, seal_oracle) are removed first.
        keyframe_every: every frame is a keyframe (``sample``) by default; with ``n > 1`` only
            every n-th frame of a scene is, the others are written as LiDAR and camera sweeps.

    Returns:
        ``root`` as a Path.

    Raises:
        DatasetError: ``root`` is not empty and ``overwrite`` is False, or a frame cannot be
            represented (wrong point columns, non-nuScenes label ids, a camera whose T_cam_lidar
            disagrees with its T_ego_cam / T_world_ego_cam, non-increasing stamps).
    """
    root = Path(root)
    if keyframe_every < 1:
        raise DatasetError(f"keyframe_every must be >= 1, got {keyframe_every}")
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise DatasetError(f"{root}: directory is not empty; refusing to write a nuScenes "
                               f"dataset into it (pass overwrite=True to replace it)")
        for name in (version, *OUTPUTS):
            if (root / name).is_dir():
                shutil.rmtree(root / name)
    root.mkdir(parents=True, exist_ok=True)
    writer = _Writer(root, version)
    names: list[str] = []
    try:
        for scene in scenes:
            if scene.name in names:
                raise DatasetError(f"scene name {scene.name!r} is used twice; names must be "
                                   f"unique")
            names.append(scene.name)
            writer.scene(scene, keyframe_every)
        if not names:
            raise DatasetError("no scenes to write")
        writer.finish()
        write_split_files(root, names)
    except BaseException:  # leave no half-written dataset behind
        for name in (version, *OUTPUTS):
            shutil.rmtree(root / name, ignore_errors=True)
        raise
    log.info("wrote %d scenes, %d samples as nuScenes %s to %s", len(names),
             len(writer.tables["sample"]), version, root)
    return root
