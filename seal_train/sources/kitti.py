"""SemanticKITTI-format directories (real ones, or the synthetic drive written so) as Frames.

Layout (KITTI odometry + SemanticKITTI labels)::

    root/[<label map>.yaml]                       optional, picked up with label_map="auto"
    root/sequences/<seq>/velodyne/NNNNNN.bin      N x 4 float32: x, y, z, remission
    root/sequences/<seq>/labels/NNNNNN.label      N uint32: low 16 bits raw class, high 16 instance
    root/sequences/<seq>/image_2/NNNNNN.png       left colour camera (image_3: right)
    root/sequences/<seq>/calib.txt                "P0: 12 floats" .. "P3:", "Tr:" (3x4 row-major)
    root/sequences/<seq>/poses.txt                one 3x4 row-major cam0 pose per frame
    root/sequences/<seq>/times.txt                one stamp per frame, seconds
    root/sequences/<seq>/times_ns.txt             optional (Seal writes it): integer ns, preferred
    root/sequences/<seq>/instance_2/NNNNNN.png    optional (Seal's oracle): uint16 instance mask

Conventions (``T_b_a`` maps frame ``a`` to frame ``b``; ``Tr`` = velodyne -> cam0 of calib.txt):

- KITTI has no vehicle frame: the LiDAR frame *is* the ego frame, so ``T_ego_lidar`` = identity.
- ``poses.txt`` holds ``T_world_cam0`` (cam0 pose; for real KITTI the world is cam0 of the first
  frame). The LiDAR pose is ``T_world_ego = inv(Tr) @ pose @ Tr``, i.e. the world is re-expressed
  in LiDAR axes (the first frame's LiDAR frame for real KITTI), as SemanticKITTI's API does.
- Camera ``image_k`` uses ``P_k = K [I | t]`` (rectified; SemanticKITTI folds the rectification
  into P and Tr): ``K = P_k[:, :3]``, ``t = inv(K) @ P_k[:, 3]`` (the stereo baseline), and
  ``T_cam_lidar = [I | t] @ Tr``. Images are taken with the scan, so the image stamp is the scan's.
- Stamps: ``times_ns.txt`` (integers) when present, else ``times.txt`` parsed as exact decimals
  (``round(seconds * 1e9)``; real KITTI's times start at 0 per sequence).
- Point channels are ``("x", "y", "z", "intensity")`` (KITTI's remission).

The readers of the single files (calib, poses, stamps, PNG headers) are
:mod:`seal_train.sources.kitti_files`; this module plans and reads whole sequences.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from seal_ros.errors import DatasetError
from seal_ros.labels import LabelMap, load_label_map
from seal_train.sources.frame import CameraView, Frame
from seal_train.sources.kitti_files import (
    dir_sizes,
    png_size,
    read_calib,
    read_poses,
    read_stamps_ns,
)
from seal_train.sources.planned import FrameError, OnError, PlannedSource
from seal_train.sources.splits import SPLIT_DIR, read_split_file, split_file

log = logging.getLogger(__name__)

POINT_CHANNELS = ("x", "y", "z", "intensity")
POINT_BYTES = 4 * 4
"""Bytes per point in a ``.bin`` scan (4 x float32)."""
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("00", "01", "02", "03", "04", "05", "06", "07", "09", "10"),
    "val": ("08",),
    "test": tuple(f"{i:02d}" for i in range(11, 22)),
}
"""SemanticKITTI's standard sequence splits; ``all`` (every sequence under ``root``) also works."""
CAMERAS = ("image_2", "image_3")
"""Supported cameras: left colour (P2) and right colour (P3)."""
AUTO_LABEL_MAP = "auto"
MASK_DIR_PREFIX = "instance_"
"""``instance_<k>/NNNNNN.png``: optional uint16 instance mask of camera ``image_<k>``."""


# --------------------------------------------------------------------------------- plans --

@dataclass(frozen=True)
class _Camera:
    """Static calibration of one camera of one sequence."""

    name: str  # image_2 / image_3
    K: np.ndarray
    T_cam_lidar: np.ndarray


@dataclass(frozen=True)
class _Sequence:
    name: str
    path: Path
    cameras: tuple[_Camera, ...]
    T_world_lidar: np.ndarray  # (M, 4, 4)
    stamps_ns: tuple[int, ...]


@dataclass(frozen=True)
class _FramePlan:
    sequence: _Sequence
    stem: str  # NNNNNN
    index: int  # line in poses.txt / times.txt
    n_points: int
    labels: bool
    masks: tuple[bool, ...]  # per camera: an instance mask exists

    @property
    def frame_id(self) -> str:
        return f"{self.sequence.name}/{self.stem}"


def resolve_label_map(root: Path, label_map: str | Path | LabelMap) -> LabelMap:
    """A LabelMap, built-in name, YAML path, or ``"auto"`` (the one ``*.yaml`` at ``root``)."""
    if isinstance(label_map, LabelMap):
        return label_map
    if str(label_map) == AUTO_LABEL_MAP:
        found = sorted(root.glob("*.yaml"))
        if len(found) != 1:
            raise DatasetError(f"{root}: label_map='auto' needs exactly one *.yaml label map at "
                               f"the dataset root, found {[p.name for p in found]}; pass a "
                               f"built-in name or a path")
        return LabelMap.from_yaml(found[0])
    return load_label_map(label_map)


def _sequence_names(root: Path, sequences: str | Path | Sequence[str | int] | None
                    ) -> list[str]:
    seq_root = root / "sequences"
    if not seq_root.is_dir():
        raise DatasetError(f"{seq_root}: no such directory; expected a SemanticKITTI-format root "
                           f"holding sequences/<seq>/velodyne/")
    if sequences is None or sequences == "all":
        names = sorted(p.name for p in seq_root.iterdir() if p.is_dir())
        if not names:
            raise DatasetError(f"{seq_root}: holds no sequence folders")
        return names
    if isinstance(sequences, (str, Path)):
        path = split_file(root, sequences, SPLITS)
        if path is not None:
            names = read_split_file(path)
        elif sequences in SPLITS:
            names = list(SPLITS[sequences])
        else:
            raise DatasetError(f"sequences={str(sequences)!r} is neither a split "
                               f"({sorted(SPLITS)} or 'all') nor a sequence-list file; pass a "
                               f"list like ['00', '08'] for single sequences")
    else:
        names = [f"{s:02d}" if isinstance(s, int) else str(s) for s in sequences]
    if not names or len(set(names)) != len(names):
        raise DatasetError(f"sequences {names} must name at least one sequence, none twice")
    missing = [name for name in names if not (seq_root / name / "velodyne").is_dir()]
    if missing:
        present = sorted(p.name for p in seq_root.iterdir() if p.is_dir())
        raise DatasetError(f"{seq_root}: sequences {missing} have no velodyne/ folder; present "
                           f"sequences are {present} (split 'all' takes every one; "
                           f"{SPLIT_DIR}/<name>.txt at the root names this dataset's own splits)")
    return names


# -------------------------------------------------------------------------------- source --

class KittiSource(PlannedSource[_FramePlan]):
    """Frames of SemanticKITTI-format sequences, in sequence then frame order.

    Every file a frame needs is checked (existence, byte sizes, calibration, pose and time counts)
    when the source is built, so a broken dataset fails before any work. With ``on_error="skip"``
    the frames concerned are left out instead (a broken calib/poses/times file drops its whole
    sequence), counted per reason in :attr:`skipped` and logged. Problems found only when a frame
    is decoded (NaN/inf points, an undecodable image) are skipped and counted by ``__iter__``;
    ``__getitem__`` always raises.

    Args:
        root: folder holding ``sequences/``.
        sequences: sequence names (``["00", "08"]``, ints allowed), a split of :data:`SPLITS`
            (the root's own ``splits/<name>.txt`` when it has one, as the synthetic drive does,
            else SemanticKITTI's: ``train`` = 00-07, 09, 10; ``val`` = 08; ``test`` = 11-21), a
            sequence-list file, or ``None`` / ``"all"`` for every sequence under
            ``root/sequences``.
        label_map: a :class:`LabelMap`, a built-in name, a path to a semantic-kitti.yaml-style
            file, or ``"auto"``: the only ``*.yaml`` at ``root`` (the synthetic drive writes
            one). Default: the built-in ``semantic-kitti`` map (19 classes), never guessed.
        cameras: camera folders to attach, in this order: ``image_2`` (P2), ``image_3`` (P3);
            ``()`` for LiDAR only. None (default): ``image_2`` when any selected sequence has
            that folder, else none, so a velodyne + labels download opens without images
            (inspect, probe, fine-tune, evaluate and segments need none; pretraining says so).
        load_images: decode PNGs; when False each image is a read-only all-zero broadcast view of
            the size in the PNG header (K, T_cam_lidar, size and id stay usable).
        on_error: ``raise`` (DatasetError naming the file) or ``skip`` (count and warn).

    Attributes:
        sequences: names of the selected sequences.
        skipped: frames left out, per reason (``truncated_points``, ``missing_labels``,
            ``label_count``, ``missing_image``, ``bad_image``, ``calibration``, ``poses``,
            ``times``, ``bad_points``).
    """

    def __init__(self, root: str | Path, sequences: str | Path | Sequence[str | int] | None = None,
                 label_map: str | Path | LabelMap = "semantic-kitti",
                 cameras: Sequence[str] | None = None, load_images: bool = True,
                 on_error: OnError = "raise") -> None:
        super().__init__(on_error)
        self.root = Path(root)
        self.sequences = _sequence_names(self.root, sequences)
        if cameras is None:
            with_images = any((self.root / "sequences" / name / "image_2").is_dir()
                              for name in self.sequences)
            cameras = ("image_2",) if with_images else ()
            if not with_images:
                log.info("%s: no image_2 folder in any selected sequence; LiDAR only",
                         self.root)
        cameras = tuple(cameras)
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown or len(set(cameras)) != len(cameras):
            raise DatasetError(f"cameras {cameras}: each must be one of {CAMERAS}, none twice")
        self.cameras = cameras
        self.load_images = load_images
        self.label_map = resolve_label_map(self.root, label_map)
        for name in self.sequences:
            self._plan_sequence(self.root / "sequences" / name)
        self._log_skipped(self.root)

    # ------------------------------------------------------------------------------ planning --

    def _sequence_record(self, path: Path, n_frames: int) -> _Sequence:
        calib_path = path / "calib.txt"
        calib = read_calib(calib_path)
        needed = ["Tr", *(f"P{c[-1]}" for c in self.cameras)]
        missing = [key for key in needed if key not in calib]
        if missing:
            raise FrameError("calibration", f"{calib_path}: lacks {missing}; expected "
                             f"'P0:'..'P3:' and 'Tr:' lines with 12 numbers each (found "
                             f"{sorted(calib)})")
        Tr = np.eye(4)
        Tr[:3] = calib["Tr"]
        if abs(np.linalg.det(Tr[:3, :3])) < 1e-6:
            raise FrameError("calibration", f"{calib_path}: Tr's rotation is singular")
        cams = []
        for name in self.cameras:
            P = calib[f"P{name[-1]}"]
            K = P[:, :3].copy()
            if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]) or K[1, 0] != 0:
                raise FrameError("calibration", f"{calib_path}: P{name[-1]} = {P.tolist()} is not "
                                 f"K [I | t] with K upper-triangular, positive focal lengths and "
                                 f"last row [0, 0, 1]")
            baseline = np.eye(4)
            baseline[:3, 3] = np.linalg.solve(K, P[:, 3])
            cams.append(_Camera(name, K, baseline @ Tr))
        poses_path = path / "poses.txt"
        poses = read_poses(poses_path)
        if len(poses) != n_frames:
            raise FrameError("poses", f"{poses_path}: {len(poses)} poses for the {n_frames} scans "
                             f"in {path / 'velodyne'}; expected one pose per scan")
        times_path, stamps = read_stamps_ns(path)
        if len(stamps) != n_frames:
            raise FrameError("times", f"{times_path}: {len(stamps)} times for the {n_frames} "
                             f"scans in {path / 'velodyne'}; expected one time per scan")
        T_world_lidar = np.linalg.inv(Tr) @ poses @ Tr  # (M, 4, 4)
        T_world_lidar[:, 3] = [0.0, 0.0, 0.0, 1.0]
        return _Sequence(path.name, path, tuple(cams), T_world_lidar, tuple(stamps))

    def _plan_sequence(self, path: Path) -> None:
        scans = dir_sizes(path / "velodyne", ".bin")
        if not scans:
            raise DatasetError(f"{path / 'velodyne'}: holds no .bin scans")
        stems = sorted(scans)
        try:
            sequence = self._sequence_record(path, len(stems))
        except FrameError as err:
            self._reject(err, count=len(stems))
            return
        bad_stems = [s for s in stems if not (s.isdigit() and int(s) < len(stems))]
        if bad_stems:
            self._reject(FrameError("poses", f"{path / 'velodyne'}: scans {bad_stems[:5]} are "
                                    f"not numbered 000000..{len(stems) - 1:06d}, the line of "
                                    f"their pose and time"), count=len(stems))
            return
        label_dir = path / "labels"
        labels = dir_sizes(label_dir, ".label") if label_dir.is_dir() else None
        images = [set(dir_sizes(path / cam, ".png")) for cam in self.cameras]
        masks = [set(dir_sizes(path / (MASK_DIR_PREFIX + cam[-1]), ".png"))
                 for cam in self.cameras]
        for stem in stems:
            try:
                self._plans.append(self._plan_frame(sequence, stem, scans[stem], labels, images,
                                                    masks))
            except FrameError as err:
                self._reject(err)

    def _plan_frame(self, sequence: _Sequence, stem: str, size: int,
                    labels: dict[str, int] | None, images: list[set[str]],
                    masks: list[set[str]]) -> _FramePlan:
        path = sequence.path
        scan = path / "velodyne" / f"{stem}.bin"
        if size % POINT_BYTES:
            raise FrameError("truncated_points", f"{scan}: {size} bytes is not a multiple of "
                             f"{POINT_BYTES} (4 float32 per point: x, y, z, remission)")
        n_points = size // POINT_BYTES
        if labels is not None:
            label_path = path / "labels" / f"{stem}.label"
            if stem not in labels:
                raise FrameError("missing_labels", f"{label_path}: missing; {path / 'labels'} "
                                 f"exists, so every scan needs its .label file")
            if labels[stem] != 4 * n_points:
                raise FrameError("label_count", f"{label_path}: {labels[stem]} bytes for the "
                                 f"{n_points} points of {scan.name}; expected one uint32 per "
                                 f"point ({4 * n_points} bytes)")
        for cam, found in zip(self.cameras, images, strict=True):
            if stem not in found:
                raise FrameError("missing_image", f"{path / cam / stem}.png: missing; expected "
                                 f"the {cam} image of scan {scan.name}")
        return _FramePlan(sequence, stem, int(stem), n_points, labels is not None,
                          tuple(stem in found for found in masks))

    # ------------------------------------------------------------------------------- loading --

    def _image(self, path: Path) -> np.ndarray:
        if not self.load_images:
            height, width = png_size(path)
            return np.broadcast_to(np.zeros((1, 1, 3), dtype=np.uint8), (height, width, 3))
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FrameError("bad_image", f"{path}: cannot decode; expected a colour PNG")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _camera(self, plan: _FramePlan, index: int) -> CameraView:
        cam = plan.sequence.cameras[index]
        path = plan.sequence.path
        image = self._image(path / cam.name / f"{plan.stem}.png")
        mask = None
        if plan.masks[index]:
            mask_path = path / (MASK_DIR_PREFIX + cam.name[-1]) / f"{plan.stem}.png"
            mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            if mask is None or mask.dtype != np.uint16 or mask.shape != image.shape[:2]:
                found = "undecodable" if mask is None else f"{mask.shape} {mask.dtype}"
                raise FrameError("bad_image", f"{mask_path}: instance mask is {found}; "
                                 f"expected a {image.shape[:2]} uint16 PNG")
        return CameraView(name=cam.name, image_id=f"{plan.sequence.name}/{cam.name}/{plan.stem}",
                          image=image, K=cam.K.copy(), T_cam_lidar=cam.T_cam_lidar.copy(),
                          stamp_ns=plan.sequence.stamps_ns[plan.index], instance_mask=mask)

    @staticmethod
    def _read(path: Path, dtype: type, count: int, what: str, reason: str) -> np.ndarray:
        try:
            data: np.ndarray = np.fromfile(path, dtype=dtype)
        except OSError as err:
            raise FrameError(reason, f"{path}: cannot read {what}: {err}") from err
        if data.size != count:
            raise FrameError(reason, f"{path}: {data.size} {what} entries, expected {count}")
        return data

    def load(self, plan: _FramePlan) -> Frame:
        """Read one planned frame from disk."""
        seq = plan.sequence
        scan = seq.path / "velodyne" / f"{plan.stem}.bin"
        points = self._read(scan, np.float32, plan.n_points * 4, "float", "truncated_points")
        points = points.reshape(plan.n_points, 4)
        finite = np.isfinite(points).all(axis=1)
        if not finite.all():
            raise FrameError("bad_points", f"{scan}: {int((~finite).sum())} of {plan.n_points} "
                             f"points have NaN/inf values; expected finite x, y, z, remission")
        labels = instances = None
        if plan.labels:
            raw = self._read(seq.path / "labels" / f"{plan.stem}.label", np.uint32, plan.n_points,
                             "label", "label_count")
            labels = raw & np.uint32(0xFFFF)
            instances = raw >> np.uint32(16)
        cameras = tuple(self._camera(plan, i) for i in range(len(seq.cameras)))
        return Frame(frame_id=plan.frame_id, sequence=seq.name, points=points,
                     channels=POINT_CHANNELS, stamp_ns=seq.stamps_ns[plan.index],
                     T_ego_lidar=np.eye(4), T_world_ego=seq.T_world_lidar[plan.index].copy(),
                     cameras=cameras, labels=labels, label_map=self.label_map,
                     instances=instances, extras={"index": plan.index})

    # --------------------------------------------------------------------------- sequence API --

    @property
    def frame_ids(self) -> list[str]:
        """``<seq>/<NNNNNN>`` of the frames, in iteration order."""
        return [plan.frame_id for plan in self._plans]

    def __repr__(self) -> str:
        return (f"KittiSource({str(self.root)!r}, sequences={self.sequences}, {len(self)} frames, "
                f"cameras={list(self.cameras)}, label_map={self.label_map.name!r})")
