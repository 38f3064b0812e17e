"""Write synthetic scenes as rosbag2 recordings (one bag per scene), with rosbags and CDR.

Layout of ``<path>/<scene name>/`` (a rosbag2 folder, ``version 9``, typestore ROS 2 Humble);
``<cam>`` is the lower-case camera name, e.g. ``cam_front``:

- ``/lidar_top/points`` (sensor_msgs/PointCloud2): ``x, y, z, intensity`` float32, ``ring`` uint16,
  ``label`` uint16 (nuScenes raw id), ``instance`` uint32; frame ``lidar_top``.
- ``/<cam>/image_raw`` (sensor_msgs/Image): ``rgb8`` at the camera's own stamp, frame
  ``<cam>_optical``.
- ``/<cam>/camera_info`` (sensor_msgs/CameraInfo): K, P = [K | 0], plumb_bob, zero distortion.
- ``/<cam>/instance_mask`` (sensor_msgs/Image): ``mono16`` instance id per pixel (0 = sky), same
  stamp and frame as the image; only for views that carry a mask (the oracle "perfect VFM").
- ``/tf_static`` (tf2_msgs/TFMessage): ``base_link -> lidar_top`` and
  ``base_link -> <cam>_optical``, once at the first stamp, transient-local QoS.
- ``/tf`` (tf2_msgs/TFMessage): ``map -> base_link`` at every LiDAR and every camera stamp (exact
  poses: reading them back needs no interpolation).

Bag time of every message = its header stamp. One bag per scene keeps scenes apart (each bag is a
sequence for :class:`~seal_train.sources.rosbag.RosbagSource`, which opens the folder of bags too).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from seal_ros.core.codec import PointFieldType, encode
from seal_ros.core.transforms import quat_from_matrix
from seal_ros.errors import BagError
from seal_ros.labels import LABEL_MAP_FILE
from seal_train.synth.record import SynthScene

log = logging.getLogger(__name__)

STORAGES = ("mcap", "sqlite3")
LIDAR_TOPIC = "/lidar_top/points"
LIDAR_FRAME = "lidar_top"
EGO_FRAME = "base_link"
WORLD_FRAME = "map"

_MAX_STATIC_DRIFT = 1e-9


def camera_prefix(name: str) -> str:
    """``CAM_FRONT`` -> ``cam_front`` (topic namespace and frame prefix)."""
    return name.lower()


def _time(ts: Any, stamp_ns: int) -> Any:
    return ts.types["builtin_interfaces/msg/Time"](sec=int(stamp_ns // 1_000_000_000),
                                                  nanosec=int(stamp_ns % 1_000_000_000))


def _header(ts: Any, stamp_ns: int, frame_id: str) -> Any:
    return ts.types["std_msgs/msg/Header"](stamp=_time(ts, stamp_ns), frame_id=frame_id)


def _transform(ts: Any, parent: str, child: str, stamp_ns: int, T: np.ndarray) -> Any:
    types = ts.types
    q = quat_from_matrix(T[:3, :3])
    t = T[:3, 3]
    return types["geometry_msgs/msg/TransformStamped"](
        header=_header(ts, stamp_ns, parent), child_frame_id=child,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=float(t[0]), y=float(t[1]),
                                                           z=float(t[2])),
            rotation=types["geometry_msgs/msg/Quaternion"](x=float(q[0]), y=float(q[1]),
                                                           z=float(q[2]), w=float(q[3]))))


def _cloud(ts: Any, frame: Any) -> Any:
    """PointCloud2 of one synthetic Frame (fields by channel name; label/instance if present)."""
    columns: dict[str, np.ndarray] = {}
    datatypes: dict[str, int] = {}
    for i, name in enumerate(frame.channels):
        columns[name] = frame.points[:, i]
        datatypes[name] = PointFieldType.UINT16 if name == "ring" else PointFieldType.FLOAT32
    if frame.labels is not None:
        if frame.labels.size and int(frame.labels.max()) > np.iinfo(np.uint16).max:
            raise BagError(f"frame {frame.frame_id}: raw label {int(frame.labels.max())} does not "
                           f"fit the uint16 label field")
        columns["label"] = frame.labels
        datatypes["label"] = PointFieldType.UINT16
    if frame.instances is not None:
        columns["instance"] = frame.instances
        datatypes["instance"] = PointFieldType.UINT32
    cloud = encode(columns, datatypes=datatypes, stamp_ns=frame.stamp_ns, frame_id=LIDAR_FRAME)
    return cloud.to_message(ts.types["sensor_msgs/msg/PointCloud2"],
                            ts.types["sensor_msgs/msg/PointField"],
                            _header(ts, frame.stamp_ns, LIDAR_FRAME))


def _image(ts: Any, image: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    height, width = image.shape[:2]
    return ts.types["sensor_msgs/msg/Image"](
        header=_header(ts, stamp_ns, frame_id), height=height, width=width, encoding="rgb8",
        is_bigendian=0, step=3 * width, data=np.ascontiguousarray(image).reshape(-1))


def _mask(ts: Any, mask: np.ndarray, stamp_ns: int, frame_id: str) -> Any:
    height, width = mask.shape
    data = np.ascontiguousarray(mask, dtype="<u2").view(np.uint8).reshape(-1)
    return ts.types["sensor_msgs/msg/Image"](
        header=_header(ts, stamp_ns, frame_id), height=height, width=width, encoding="mono16",
        is_bigendian=0, step=2 * width, data=data)


def _camera_info(ts: Any, K: np.ndarray, height: int, width: int, stamp_ns: int,
                 frame_id: str) -> Any:
    P = np.zeros((3, 4))
    P[:, :3] = K
    roi = ts.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                       do_rectify=False)
    return ts.types["sensor_msgs/msg/CameraInfo"](
        header=_header(ts, stamp_ns, frame_id), height=height, width=width,
        distortion_model="plumb_bob", d=np.zeros(5), k=np.asarray(K, dtype=np.float64).reshape(9),
        r=np.eye(3).reshape(9), p=P.reshape(12), binning_x=0, binning_y=0, roi=roi)


def _static_rig(scene: SynthScene) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """T_ego_lidar and (camera name, T_ego_cam) of the scene; they must not change in a scene."""
    first = scene.frames[0]
    cams = [(view.name, T) for view, T in zip(first.frame.cameras, first.T_ego_cam, strict=True)]
    for sf in scene.frames[1:]:
        if not np.allclose(sf.frame.T_ego_lidar, first.frame.T_ego_lidar, atol=_MAX_STATIC_DRIFT):
            raise BagError(f"scene {scene.name}: T_ego_lidar changes at frame {sf.index}; "
                           f"/tf_static holds one rig")
        names = [view.name for view in sf.frame.cameras]
        if names != [name for name, _ in cams] or not all(
                np.allclose(T, T0, atol=_MAX_STATIC_DRIFT)
                for T, (_, T0) in zip(sf.T_ego_cam, cams, strict=True)):
            raise BagError(f"scene {scene.name}: cameras or T_ego_cam change at frame {sf.index}; "
                           f"/tf_static holds one rig")
    return first.frame.T_ego_lidar, cams


def write_scene_bag(scene: SynthScene, bag: Path, storage: str = "mcap") -> Path:
    """Write one scene to the rosbag2 folder ``bag`` (which must not exist)."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    if not scene.frames:
        raise BagError(f"scene {scene.name}: has no frames to write")
    ts = get_typestore(Stores.ROS2_HUMBLE)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    T_ego_lidar, rig = _static_rig(scene)
    zero = QosTime(sec=0, nsec=0)
    latched = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
                  zero, zero, QosLiveliness.AUTOMATIC, zero, False)
    tf_type, cloud_type = "tf2_msgs/msg/TFMessage", "sensor_msgs/msg/PointCloud2"
    image_type, info_type = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"

    with Writer(bag, version=9, storage_plugin=plugin) as writer:
        static_conn = writer.add_connection("/tf_static", tf_type, typestore=ts,
                                            offered_qos_profiles=[latched])
        tf_conn = writer.add_connection("/tf", tf_type, typestore=ts)
        lidar_conn = writer.add_connection(LIDAR_TOPIC, cloud_type, typestore=ts)
        cam_conns = {name: (writer.add_connection(f"/{camera_prefix(name)}/image_raw", image_type,
                                                  typestore=ts),
                            writer.add_connection(f"/{camera_prefix(name)}/camera_info",
                                                  info_type, typestore=ts))
                     for name, _ in rig}
        masked = {view.name for sf in scene.frames for view in sf.frame.cameras
                  if view.instance_mask is not None}
        mask_conns = {name: writer.add_connection(f"/{camera_prefix(name)}/instance_mask",
                                                  image_type, typestore=ts)
                      for name, _ in rig if name in masked}

        first = scene.frames[0]
        t0 = min([first.frame.stamp_ns] + [view.stamp_ns for view in first.frame.cameras])
        statics = [_transform(ts, EGO_FRAME, LIDAR_FRAME, t0, T_ego_lidar)]
        statics += [_transform(ts, EGO_FRAME, f"{camera_prefix(name)}_optical", t0, T)
                    for name, T in rig]
        writer.write(static_conn, t0, ts.serialize_cdr(ts.types[tf_type](transforms=statics),
                                                       tf_type))

        for sf in scene.frames:
            frame = sf.frame
            out: list[tuple[int, int, Any, Any, str]] = []  # (stamp, order, conn, msg, type)
            poses = {frame.stamp_ns: frame.T_world_ego}
            out.append((frame.stamp_ns, 1, lidar_conn, _cloud(ts, frame), cloud_type))
            for view, T_world_ego_cam in zip(frame.cameras, sf.T_world_ego_cam, strict=True):
                prefix = camera_prefix(view.name)
                image_conn, info_conn = cam_conns[view.name]
                optical = f"{prefix}_optical"
                poses.setdefault(view.stamp_ns, T_world_ego_cam)
                out.append((view.stamp_ns, 2, info_conn,
                            _camera_info(ts, view.K, view.height, view.width, view.stamp_ns,
                                         optical), info_type))
                out.append((view.stamp_ns, 3, image_conn,
                            _image(ts, view.image, view.stamp_ns, optical), image_type))
                if view.instance_mask is not None:
                    out.append((view.stamp_ns, 4, mask_conns[view.name],
                                _mask(ts, view.instance_mask, view.stamp_ns, optical), image_type))
            for stamp, T in poses.items():
                msg = ts.types[tf_type](transforms=[_transform(ts, WORLD_FRAME, EGO_FRAME, stamp,
                                                               T)])
                out.append((stamp, 0, tf_conn, msg, tf_type))
            for stamp, _, conn, msg, msgtype in sorted(out, key=lambda item: item[:2]):
                writer.write(conn, stamp, ts.serialize_cdr(msg, msgtype))
    return bag


def write_rosbag(scenes: Iterable[SynthScene], path: Path, storage: str = "mcap",
                 overwrite: bool = False) -> list[Path]:
    """Write each scene to its own rosbag2 folder ``path/<scene name>``; returns the bag folders.

    Args:
        scenes: the scenes to write.
        path: parent folder of the bags (created if needed).
        storage: ``mcap`` or ``sqlite3``.
        overwrite: replace existing bags of the same scene names; without it an existing bag is an
            error.

    Raises:
        BagError: unknown storage, an existing bag without ``overwrite``, a rig that changes within
            a scene, or a raw label too large for the uint16 ``label`` field.
    """
    if storage not in STORAGES:
        raise BagError(f"storage {storage!r} is not one of {STORAGES}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for scene in scenes:
        bag = path / scene.name
        if bag.exists():
            if not overwrite:
                raise BagError(f"{bag}: exists; pass overwrite=True (--overwrite) to replace it")
            if bag.is_dir():
                shutil.rmtree(bag)
            else:
                bag.unlink()
        try:
            write_scene_bag(scene, bag, storage)
        except BaseException:
            shutil.rmtree(bag, ignore_errors=True)  # never leave a half-written bag behind
            raise
        log.info("wrote %s (%d frames, %s)", bag, len(scene.frames), storage)
        written.append(bag)
        label_map = scene.frames[0].frame.label_map if scene.frames else None
        if label_map is not None:  # what the raw ids of the ``label`` field mean
            (path / LABEL_MAP_FILE).write_text(label_map.to_yaml())
    return written


__all__ = ["EGO_FRAME", "LIDAR_FRAME", "LIDAR_TOPIC", "STORAGES", "WORLD_FRAME",
           "camera_prefix", "write_rosbag", "write_scene_bag"]
