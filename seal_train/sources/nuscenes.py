"""nuScenes (and the synthetic drive written in its format) as :class:`Frame` records.

Tables are opened with the real nuscenes-devkit (:mod:`.nuscenes_tables`); point clouds, lidarseg
labels and images are read here with numpy / OpenCV (the devkit's ``LidarPointCloud`` keeps only 4
of the 5 point columns).

The LiDAR-to-camera transform follows SLidR's chain, each sensor at its own timestamp::

    T_cam_lidar = inv(T_ego_cam) @ inv(T_world_ego(t_cam)) @ T_world_ego(t_lidar) @ T_ego_lidar

Files beside the tables that only Seal's synthetic drive writes (the oracle "perfect VFM"):
``seal_oracle/<camera sample_data token>.png`` (uint16 instance mask) and
``seal_oracle/<lidar sample_data token>_instances.bin`` (uint32 per-point instance id).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seal_ros.core.transforms import camera_from_lidar
from seal_ros.errors import DatasetError
from seal_ros.labels import LabelMap
from seal_train.sources.frame import CameraView, Frame
from seal_train.sources.nuscenes_tables import open_devkit, pose_to_matrix, split_scenes
from seal_train.sources.planned import FrameError, OnError, PlannedSource

LIDAR_CHANNEL = "LIDAR_TOP"
CAMERA_CHANNELS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_RIGHT", "CAM_BACK", "CAM_BACK_LEFT",
                   "CAM_FRONT_LEFT")
"""nuScenes' six cameras in SLidR's order."""
POINT_CHANNELS = ("x", "y", "z", "intensity", "ring")
"""Columns of a nuScenes ``.pcd.bin`` (5 x float32 per point)."""
POINT_BYTES = 5 * 4
ORACLE_DIR = "seal_oracle"


# --------------------------------------------------------------------------------------- plans --

@dataclass(frozen=True)
class _CameraPlan:
    name: str
    token: str  # camera sample_data token = CameraView.image_id
    path: Path
    mask_path: Path | None


@dataclass(frozen=True)
class _FramePlan:
    token: str  # LIDAR_TOP sample_data token = Frame.frame_id
    scene: str
    is_key_frame: bool
    path: Path
    n_points: int
    labels_path: Path | None
    instances_path: Path | None
    cameras: tuple[_CameraPlan, ...]


# -------------------------------------------------------------------------------------- source --

class NuScenesSource(PlannedSource[_FramePlan]):
    """Frames of a nuScenes-format dataset: keyframes (and optionally LiDAR sweeps) in scene order.

    Every file a frame needs is checked (existence and byte sizes, no reads) when the source is
    built, so a broken dataset fails before any work. With ``on_error="skip"`` such frames are left
    out instead, counted per reason in :attr:`skipped` and logged; frames whose files fail only when
    decoded are skipped (and counted) by ``__iter__``; ``__getitem__`` always raises.

    Args:
        dataroot: folder holding ``<version>/``, ``samples/``, ``sweeps/``, ``lidarseg/``.
        version: table folder, e.g. ``v1.0-trainval`` or ``v1.0-mini``.
        split: one of :data:`~.nuscenes_tables.SPLITS` (``all``, or a named split: the
            dataroot's own ``splits/<name>.txt`` when it has one, as the synthetic drive does, else
            the devkit's scene split), or a path to a text file with one scene name per line
            (``#`` comments allowed).
        cameras: camera channels to attach, in this order; ``None`` = every camera channel in
            ``sensor.json`` (the six nuScenes cameras in SLidR's order for real nuScenes).
        sweeps: also yield the non-key LIDAR_TOP scans between keyframes; they carry no labels and
            no cameras (camera sweeps are not synchronised with LiDAR sweeps).
        load_images: decode JPEGs; when False, each CameraView's image is a read-only all-zero
            broadcast view of the right size (K, T_cam_lidar, size and id stay usable).
        label_map: map of the lidarseg raw ids; default the built-in ``nuscenes`` map.
        on_error: ``raise`` (DatasetError naming the file) or ``skip`` (count and warn).

    Attributes:
        nusc: the devkit's ``NuScenes`` object.
        scenes: names of the selected scenes, in table order.
        cameras: camera channels attached to every keyframe.
        skipped: frames left out, per reason (``missing_file``, ``truncated_points``,
            ``label_count``, ``calibration``, ``missing_camera``, ``bad_image``, ...).
    """

    def __init__(self, dataroot: str | Path, version: str, split: str | Path,
                 cameras: Sequence[str] | None = None, sweeps: bool = False,
                 load_images: bool = True, label_map: LabelMap | None = None,
                 on_error: OnError = "raise") -> None:
        super().__init__(on_error)
        self.dataroot = Path(dataroot)
        self.version = version
        self.sweeps = sweeps
        self.load_images = load_images
        self.label_map = label_map if label_map is not None else LabelMap.builtin("nuscenes")
        self.nusc = open_devkit(self.dataroot, version)

        channels = {rec["channel"]: rec["modality"] for rec in self.nusc.sensor}
        all_cams = [c for c in CAMERA_CHANNELS if channels.get(c) == "camera"]
        all_cams += sorted(c for c, m in channels.items() if m == "camera" and c not in all_cams)
        self.cameras = tuple(all_cams if cameras is None else cameras)
        unknown = [c for c in self.cameras if channels.get(c) != "camera"]
        if unknown:
            raise DatasetError(f"{self.dataroot / version}/sensor.json: no camera channel "
                               f"{unknown}; cameras here are {all_cams}")
        if len(set(self.cameras)) != len(self.cameras):
            raise DatasetError(f"cameras {self.cameras} repeat a channel")

        self.scenes = split_scenes(split, [rec["name"] for rec in self.nusc.scene],
                                    self.dataroot)
        self._lidarseg = {rec["sample_data_token"]: rec["filename"]
                          for rec in getattr(self.nusc, "lidarseg", [])}
        self._has_oracle = (self.dataroot / ORACLE_DIR).is_dir()
        chosen = set(self.scenes)
        for scene in self.nusc.scene:
            if scene["name"] in chosen:
                for token in self._scene_lidar_tokens(scene):
                    self._add_plan(token, scene["name"])
        self._log_skipped(self.dataroot / version)

    # ------------------------------------------------------------------------------ indexing --

    def _scene_lidar_tokens(self, scene: dict[str, Any]) -> list[str]:
        """LIDAR_TOP sample_data tokens of a scene in time order (keyframes, + sweeps if asked)."""
        nusc = self.nusc
        keys: list[str] = []
        in_scene: set[str] = set()
        sample_token = scene["first_sample_token"]
        while sample_token:
            in_scene.add(sample_token)
            sample = nusc.get("sample", sample_token)
            if LIDAR_CHANNEL in sample["data"]:
                keys.append(sample["data"][LIDAR_CHANNEL])
            else:
                self._reject(FrameError("missing_lidar", f"sample {sample_token} of scene "
                                        f"{scene['name']} has no {LIDAR_CHANNEL} keyframe"))
            sample_token = sample["next"]
        if not self.sweeps or not keys:
            return keys
        token = keys[0]
        while True:  # walk back to the scene's first LiDAR scan
            prev = nusc.get("sample_data", token)["prev"]
            if not prev or nusc.get("sample_data", prev)["sample_token"] not in in_scene:
                break
            token = prev
        tokens = []
        while token and nusc.get("sample_data", token)["sample_token"] in in_scene:
            tokens.append(token)
            token = nusc.get("sample_data", token)["next"]
        return tokens

    def _add_plan(self, token: str, scene: str) -> None:
        try:
            self._plans.append(self._plan(token, scene))
        except FrameError as err:
            self._reject(err)

    def _file(self, filename: str, what: str, token: str) -> tuple[Path, int]:
        path = self.dataroot / filename
        try:
            return path, os.stat(path).st_size
        except OSError:
            raise FrameError("missing_file", f"{path}: missing; expected the {what} of "
                             f"sample_data {token}") from None

    def _check_calibration(self, sd: dict[str, Any], camera: bool) -> None:
        nusc = self.nusc
        where = f"sample_data {sd['token']} ({sd['channel']})"
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        intrinsic = np.asarray(cs.get("camera_intrinsic") or [], dtype=np.float64)
        if (len(cs.get("translation", ())) != 3 or len(cs.get("rotation", ())) != 4
                or (camera and intrinsic.shape != (3, 3))):
            raise FrameError("calibration", f"{self.dataroot / self.version}/calibrated_sensor."
                             f"json: record {cs['token']} of {where} lacks translation[3], "
                             f"rotation[4]{' or camera_intrinsic[3][3]' if camera else ''}")
        try:
            nusc.get("ego_pose", sd["ego_pose_token"])
        except KeyError:
            raise FrameError("calibration", f"{self.dataroot / self.version}/ego_pose.json: no "
                             f"record {sd['ego_pose_token']} for {where}") from None

    def _plan(self, token: str, scene: str) -> _FramePlan:
        nusc = self.nusc
        sd = nusc.get("sample_data", token)
        self._check_calibration(sd, camera=False)
        path, size = self._file(sd["filename"], "LiDAR scan (N x 5 float32)", token)
        if size % POINT_BYTES:
            raise FrameError("truncated_points", f"{path}: {size} bytes is not a multiple of "
                             f"{POINT_BYTES} (5 float32 per point: x, y, z, intensity, ring)")
        n_points = size // POINT_BYTES
        labels_path = None
        if sd["is_key_frame"] and token in self._lidarseg:
            labels_path, n_labels = self._file(self._lidarseg[token], "lidarseg labels", token)
            if n_labels != n_points:
                raise FrameError("label_count", f"{labels_path}: {n_labels} labels for the "
                                 f"{n_points} points of {path.name}; expected one uint8 per point")
        instances_path = None
        if self._has_oracle:
            candidate = self.dataroot / ORACLE_DIR / f"{token}_instances.bin"
            if candidate.is_file():
                n_inst = candidate.stat().st_size
                if n_inst != 4 * n_points:
                    raise FrameError("label_count", f"{candidate}: {n_inst} bytes for "
                                     f"{n_points} points; expected one uint32 per point")
                instances_path = candidate
        cameras: list[_CameraPlan] = []
        if sd["is_key_frame"]:
            sample = nusc.get("sample", sd["sample_token"])
            for name in self.cameras:
                cam_token = sample["data"].get(name)
                if cam_token is None:
                    raise FrameError("missing_camera", f"sample {sample['token']} of scene "
                                     f"{scene} has no {name} keyframe image")
                cam_sd = nusc.get("sample_data", cam_token)
                self._check_calibration(cam_sd, camera=True)
                cam_path, _ = self._file(cam_sd["filename"], f"{name} image", cam_token)
                mask_path = None
                if self._has_oracle:
                    candidate = self.dataroot / ORACLE_DIR / f"{cam_token}.png"
                    mask_path = candidate if candidate.is_file() else None
                cameras.append(_CameraPlan(name, cam_token, cam_path, mask_path))
        return _FramePlan(token, scene, bool(sd["is_key_frame"]), path, n_points, labels_path,
                          instances_path, tuple(cameras))

    # ------------------------------------------------------------------------------- loading --

    def _pose(self, sd: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(T_ego_sensor, T_world_ego) of one sample_data at its own timestamp."""
        cs = self.nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        ego = self.nusc.get("ego_pose", sd["ego_pose_token"])
        return (pose_to_matrix(cs["translation"], cs["rotation"]),
                pose_to_matrix(ego["translation"], ego["rotation"]))

    def _camera(self, plan: _CameraPlan, T_ego_lidar: np.ndarray,
                T_world_ego: np.ndarray) -> CameraView:
        nusc = self.nusc
        sd = nusc.get("sample_data", plan.token)
        cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
        T_ego_cam, T_world_ego_cam = self._pose(sd)
        T_cam_lidar = camera_from_lidar(T_ego_lidar, T_world_ego, T_world_ego_cam, T_ego_cam)
        height, width = int(sd.get("height") or 0), int(sd.get("width") or 0)
        if self.load_images:
            bgr = cv2.imread(str(plan.path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise FrameError("bad_image", f"{plan.path}: cannot decode; expected a "
                                 f"{width}x{height} colour JPEG")
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        else:
            if height <= 0 or width <= 0:
                raise FrameError("bad_image", f"sample_data {plan.token}: no image size in "
                                 f"sample_data.json (needed with load_images=False)")
            image = np.broadcast_to(np.zeros((1, 1, 3), dtype=np.uint8), (height, width, 3))
        mask = None
        if plan.mask_path is not None:
            mask = cv2.imread(str(plan.mask_path), cv2.IMREAD_UNCHANGED)
            if mask is None or mask.dtype != np.uint16 or mask.shape != image.shape[:2]:
                found = "undecodable" if mask is None else f"{mask.shape} {mask.dtype}"
                raise FrameError("bad_image", f"{plan.mask_path}: instance mask is {found}; "
                                 f"expected a {image.shape[:2]} uint16 PNG")
        return CameraView(name=plan.name, image_id=plan.token, image=image,
                          K=np.asarray(cs["camera_intrinsic"], dtype=np.float64),
                          T_cam_lidar=T_cam_lidar, stamp_ns=int(sd["timestamp"]) * 1000,
                          instance_mask=mask)

    def _read(self, path: Path, dtype: type, count: int, what: str, reason: str) -> np.ndarray:
        try:
            data: np.ndarray = np.fromfile(path, dtype=dtype)
        except OSError as err:
            raise FrameError("missing_file", f"{path}: cannot read {what}: {err}") from err
        if data.size != count:
            raise FrameError(reason, f"{path}: {data.size} {what} entries, expected {count}")
        return data

    def load(self, plan: _FramePlan) -> Frame:
        """Read one planned frame from disk."""
        sd = self.nusc.get("sample_data", plan.token)
        points = self._read(plan.path, np.float32, plan.n_points * 5, "point float",
                            "truncated_points")
        points = points.reshape(plan.n_points, 5)
        T_ego_lidar, T_world_ego = self._pose(sd)
        cameras = tuple(self._camera(cam, T_ego_lidar, T_world_ego) for cam in plan.cameras)
        labels = instances = None
        if plan.labels_path is not None:
            labels = self._read(plan.labels_path, np.uint8, plan.n_points, "label", "label_count")
            labels = labels.astype(np.uint32)
        if plan.instances_path is not None:
            instances = self._read(plan.instances_path, np.uint32, plan.n_points, "instance",
                                   "label_count")
        return Frame(frame_id=plan.token, sequence=plan.scene, points=points,
                     channels=POINT_CHANNELS, stamp_ns=int(sd["timestamp"]) * 1000,
                     T_ego_lidar=T_ego_lidar, T_world_ego=T_world_ego, cameras=cameras,
                     labels=labels, label_map=self.label_map, instances=instances,
                     extras={"sample_token": sd["sample_token"],
                             "is_key_frame": plan.is_key_frame,
                             "lidar_filename": sd["filename"]})  # nuScenes-C names files so

    # --------------------------------------------------------------------------- sequence API --

    @property
    def frame_ids(self) -> list[str]:
        """LIDAR_TOP sample_data tokens of the frames, in iteration order."""
        return [plan.token for plan in self._plans]

    @property
    def frame_scenes(self) -> list[str]:
        """Scene name of each frame, in iteration order (label splits keep whole scenes)."""
        return [plan.scene for plan in self._plans]

    def __repr__(self) -> str:
        return (f"NuScenesSource({str(self.dataroot)!r}, {self.version!r}, {len(self.scenes)} "
                f"scenes, {len(self)} frames, cameras={list(self.cameras)}, sweeps={self.sweeps})")
