"""Write synthetic drives as a SemanticKITTI-format directory that :class:`KittiSource` reads back.

Layout under ``root`` (one sequence per scene, ``00``, ``01``, ... in the order given)::

    seal-synth.yaml                               label map of the nuScenes raw ids
    sequences/<seq>/velodyne/NNNNNN.bin           N x 4 float32: x, y, z, intensity (ring dropped)
    sequences/<seq>/labels/NNNNNN.label           uint32: raw nuScenes id | instance << 16
    sequences/<seq>/image_2/NNNNNN.png            CAM_FRONT image (lossless)
    sequences/<seq>/instance_2/NNNNNN.png         CAM_FRONT uint16 instance mask (Seal's oracle)
    sequences/<seq>/calib.txt                     P0..P3 = [K | 0] of CAM_FRONT, Tr = T_cam_lidar
    sequences/<seq>/poses.txt                     Tr @ T_world_lidar @ inv(Tr) per frame
    sequences/<seq>/times.txt                     seconds since the sequence's first scan
    sequences/<seq>/times_ns.txt                  absolute stamps, integer ns (reader prefers it)
    splits/{train,val}.txt                        sequences but the last / the last (split names)

KITTI has one rectified camera rig and no ego frame, so only CAM_FRONT is written, as camera 2 with
zero baseline (P0..P3 all equal ``[K | 0]``; only ``image_2`` exists). ``Tr`` is CAM_FRONT's static
LiDAR -> camera transform ``inv(T_ego_cam) @ T_ego_lidar``; every frame's CAM_FRONT must be taken at
the scan stamp (its ``T_cam_lidar`` equal to ``Tr`` within :data:`T_CAM_LIDAR_ATOL`). Poses are
chosen so that the reader's ``inv(Tr) @ pose @ Tr`` is the frame's ``T_world_lidar`` (world = the
synthetic world, so the first pose is not the identity as in real KITTI). Numbers are written with
17 significant digits, so float64 values round-trip exactly.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from seal_ros.errors import DatasetError
from seal_ros.labels import LabelMap
from seal_train.sources.kitti import MASK_DIR_PREFIX
from seal_train.sources.kitti_files import TIMES_NS_FILE
from seal_train.sources.splits import SPLIT_DIR, write_split_files
from seal_train.synth.record import SynthFrame, SynthScene

log = logging.getLogger(__name__)

CAMERA = "CAM_FRONT"
"""The synthetic camera written as KITTI's ``image_2``."""
LABEL_MAP_FILE = "seal-synth.yaml"
T_CAM_LIDAR_ATOL = 1e-6
"""How far a frame's CAM_FRONT T_cam_lidar may stray from the static ``Tr`` (metres / radians)."""
MAX_ID = 0xFFFF
OUTPUTS = ("sequences", LABEL_MAP_FILE)
"""What the writer owns under ``root`` and clears with ``overwrite=True``."""


def _row(matrix: np.ndarray) -> str:
    """A 3x4 (or 4x4: top 3 rows) matrix as 12 row-major numbers, exact float64 text."""
    return " ".join(f"{v:.17g}" for v in np.asarray(matrix, dtype=np.float64)[:3, :4].ravel())


def _seconds(delta_ns: int) -> str:
    """Non-negative nanoseconds as exact decimal seconds."""
    return f"{delta_ns // 1_000_000_000}.{delta_ns % 1_000_000_000:09d}"


def _camera_index(item: SynthFrame) -> int:
    names = [cam.name for cam in item.frame.cameras]
    if CAMERA not in names:
        raise DatasetError(f"frame {item.frame.frame_id}: no {CAMERA} camera (has {names}); the "
                           f"KITTI format stores {CAMERA} as image_2")
    return names.index(CAMERA)


def _static_tr(scene: SynthScene) -> tuple[np.ndarray, np.ndarray]:
    """(K, Tr) of CAM_FRONT, checked to be the same for every frame of the scene."""
    first = scene.frames[0]
    index = _camera_index(first)
    K = first.frame.cameras[index].K
    Tr = np.linalg.inv(first.T_ego_cam[index]) @ first.frame.T_ego_lidar
    for item in scene.frames:
        i = _camera_index(item)
        cam = item.frame.cameras[i]
        where = f"scene {scene.name}, frame {item.frame.frame_id}"
        if not np.array_equal(cam.K, K):
            raise DatasetError(f"{where}: {CAMERA} K {cam.K.tolist()} differs from the first "
                               f"frame's {K.tolist()}; KITTI's calib.txt holds one K per sequence")
        error = float(np.abs(cam.T_cam_lidar - Tr).max())
        if error > T_CAM_LIDAR_ATOL:
            raise DatasetError(f"{where}: {CAMERA} T_cam_lidar differs from the static "
                               f"inv(T_ego_cam) @ T_ego_lidar by {error:.3g} (> "
                               f"{T_CAM_LIDAR_ATOL}); KITTI needs the camera taken at the scan "
                               f"stamp (camera offset 0 for {CAMERA}) and a fixed rig")
    return K, Tr


def _labels_word(item: SynthFrame) -> np.ndarray | None:
    """uint32 ``label | instance << 16`` per point, or None for an unlabelled frame."""
    frame = item.frame
    where = f"frame {frame.frame_id}"
    if frame.labels is None:
        if frame.instances is not None:
            raise DatasetError(f"{where}: has instances but no labels; a KITTI .label file "
                               f"stores both or neither")
        return None
    labels = frame.labels.astype(np.uint32)
    instances = (frame.instances.astype(np.uint32) if frame.instances is not None
                 else np.zeros_like(labels))
    for name, values in (("labels", labels), ("instances", instances)):
        if values.size and int(values.max()) > MAX_ID:
            raise DatasetError(f"{where}: {name} reach {int(values.max())}; a KITTI .label file "
                               f"holds 16-bit labels and 16-bit instances (<= {MAX_ID})")
    return labels | (instances << np.uint32(16))


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), np.ascontiguousarray(image)):
        raise DatasetError(f"{path}: OpenCV could not write the PNG")


def _write_scene(scene: SynthScene, seq_dir: Path) -> LabelMap | None:
    if not scene.frames:
        raise DatasetError(f"scene {scene.name}: has no frames")
    K, Tr = _static_tr(scene)
    label_map = scene.frames[0].frame.label_map
    has_labels = scene.frames[0].frame.labels is not None
    dirs = {name: seq_dir / name for name in ("velodyne", "labels", "image_2",
                                               MASK_DIR_PREFIX + "2")}
    for name, path in dirs.items():
        if name != "labels" or has_labels:
            path.mkdir(parents=True, exist_ok=True)
    stamps: list[int] = []
    poses: list[str] = []
    any_mask = False
    for k, item in enumerate(scene.frames):
        frame = item.frame
        where = f"scene {scene.name}, frame {frame.frame_id}"
        stem = f"{k:06d}"
        if frame.channels[:4] != ("x", "y", "z", "intensity"):
            raise DatasetError(f"{where}: point channels {frame.channels} must start with x, y, "
                               f"z, intensity")
        if stamps and frame.stamp_ns <= stamps[-1]:
            raise DatasetError(f"{where}: stamp {frame.stamp_ns} ns is not after the previous "
                               f"frame's {stamps[-1]} ns")
        stamps.append(int(frame.stamp_ns))
        np.ascontiguousarray(frame.points[:, :4], dtype=np.float32).tofile(
            dirs["velodyne"] / f"{stem}.bin")
        word = _labels_word(item)
        if (word is not None) != has_labels:
            raise DatasetError(f"{where}: {'lacks' if has_labels else 'has'} labels unlike the "
                               f"scene's first frame; a sequence is labelled throughout or not")
        if word is not None:
            if frame.label_map is not label_map and (
                    frame.label_map is None or label_map is None
                    or frame.label_map.learning_map != label_map.learning_map):
                raise DatasetError(f"{where}: label map differs from the first frame's")
            word.tofile(dirs["labels"] / f"{stem}.label")
        cam = frame.cameras[_camera_index(item)]
        _write_png(dirs["image_2"] / f"{stem}.png", cam.image[..., ::-1])
        if cam.instance_mask is not None:
            any_mask = True
            _write_png(dirs[MASK_DIR_PREFIX + "2"] / f"{stem}.png", cam.instance_mask)
        poses.append(_row(Tr @ frame.T_world_lidar @ np.linalg.inv(Tr)))
    if not any_mask:
        dirs[MASK_DIR_PREFIX + "2"].rmdir()
    P = np.zeros((3, 4))
    P[:, :3] = K
    calib = [f"P{i}: {_row(P)}" for i in range(4)] + [f"Tr: {_row(Tr)}"]
    (seq_dir / "calib.txt").write_text("\n".join(calib) + "\n")
    (seq_dir / "poses.txt").write_text("\n".join(poses) + "\n")
    (seq_dir / "times.txt").write_text("\n".join(_seconds(s - stamps[0]) for s in stamps) + "\n")
    (seq_dir / TIMES_NS_FILE).write_text("\n".join(str(s) for s in stamps) + "\n")
    return label_map if has_labels else None


def write_kitti(scenes: Iterable[SynthScene], root: str | Path, overwrite: bool = False) -> Path:
    """Write synthetic scenes as a SemanticKITTI-format directory (see the module docstring).

    ``KittiSource(root, label_map="auto")`` reads it back: points (x, y, z, intensity), labels,
    instances, CAM_FRONT image and instance mask, K, T_cam_lidar, T_world_lidar and stamp_ns equal
    the synthetic frame's (transforms to float64 rounding).

    Args:
        scenes: the drives to write, one sequence each (``00``, ``01``, ...), streamed.
        root: dataset root.
        overwrite: allow writing into a non-empty ``root``; the writer's own outputs there
            (``sequences/``, ``splits/``, ``seal-synth.yaml``) are removed first.

    Returns:
        ``root`` as a Path.

    Raises:
        DatasetError: ``root`` is not empty and ``overwrite`` is False; or a frame cannot be
            represented (no CAM_FRONT, CAM_FRONT not synchronised with the scan or its K changing,
            labels or instances above 16 bits, non-increasing stamps, mixed label maps).
    """
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise DatasetError(f"{root}: directory is not empty; refusing to write a "
                               f"SemanticKITTI-format dataset into it (pass overwrite=True to "
                               f"replace it)")
        _remove_outputs(root)
    root.mkdir(parents=True, exist_ok=True)
    label_map: LabelMap | None = None
    count = frames = 0
    try:
        for count, scene in enumerate(scenes, start=1):
            seq_map = _write_scene(scene, root / "sequences" / f"{count - 1:02d}")
            frames += len(scene.frames)
            if seq_map is not None:
                if label_map is not None and seq_map.learning_map != label_map.learning_map:
                    raise DatasetError(f"scene {scene.name}: label map {seq_map.name!r} differs "
                                       f"from the earlier scenes' {label_map.name!r}")
                label_map = seq_map
        if not count:
            raise DatasetError("no scenes to write")
        if label_map is not None:
            (root / LABEL_MAP_FILE).write_text(label_map.to_yaml())
        write_split_files(root, [f"{i:02d}" for i in range(count)])
    except BaseException:  # leave no half-written dataset behind
        _remove_outputs(root)
        raise
    log.info("wrote %d scenes, %d frames as SemanticKITTI format to %s", count, frames, root)
    return root


def _remove_outputs(root: Path) -> None:
    shutil.rmtree(root / "sequences", ignore_errors=True)
    shutil.rmtree(root / SPLIT_DIR, ignore_errors=True)
    (root / LABEL_MAP_FILE).unlink(missing_ok=True)
