"""ROS bags (rosbag2 sqlite3 / MCAP, ROS 1 ``.bag``) as :class:`Frame` records, read with rosbags.

One bag is one sequence. When the source is built, each bag's ``/tf`` and ``/tf_static`` are read
into a :class:`~seal_ros.core.transforms.TransformTree` and the LiDAR and camera topics are
indexed (header stamps; clouds are checked against their declared layout), so every frame is
planned (cameras paired, poses looked up) before any is loaded. Per frame::

    T_ego_lidar  = tf(ego <- cloud frame)               at the scan stamp
    T_world_ego  = tf(world <- ego)                     at the scan stamp   (slerp between samples)
    T_cam_lidar  = inv(T_ego_cam) @ inv(T_world_ego(t_cam)) @ T_world_ego(t_lidar) @ T_ego_lidar

Each camera pairs with the image nearest the scan stamp within ``pair_tolerance_s``; K comes from
the CameraInfo nearest the image. Problems are errors naming the bag, topic and stamp; with
``on_error="skip"`` the frame is left out and counted per reason in :attr:`RosbagSource.skipped`.
Non-finite points are an error (reason ``nonfinite_points``) unless ``drop_nonfinite=True``, which
drops them and counts them in :attr:`RosbagSource.dropped_points`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seal_ros.core.codec import XYZ, decode, read_field, read_points, stamp_to_ns
from seal_ros.core.images import decode_image, decode_mask
from seal_ros.core.transforms import TransformTree, camera_from_lidar
from seal_ros.errors import BagError, CodecError, DatasetError, TransformError
from seal_ros.labels import LabelMap, load_label_map
from seal_train.sources.bag_topics import CameraTopics, expand_bags, select_topics
from seal_train.sources.frame import CameraView, Frame
from seal_train.sources.planned import FrameError, OnError, PlannedSource

TF_TYPES = ("tf2_msgs/msg/TFMessage", "tf/msg/tfMessage")  # the second in old ROS 1 bags
EXTRA_CHANNELS = ("intensity", "ring", "time")
"""Point fields kept after ``x, y, z`` when the cloud has them (as float32 columns)."""


class BagFrameError(FrameError, BagError):
    """A bad frame of a bag: a BagError, so callers catching BagError see it as before."""


@dataclass(frozen=True)
class _Ref:
    """Where a message is: bag time, rank among same-topic messages at that bag time, header."""

    bag_time_ns: int
    rank: int
    stamp_ns: int
    frame_id: str


@dataclass(frozen=True)
class _CameraPlan:
    camera: CameraTopics
    ref: _Ref
    K: np.ndarray
    T_cam_lidar: np.ndarray
    mask: _Ref | None = None


@dataclass(frozen=True)
class _FramePlan:
    bag: int
    ref: _Ref
    T_ego_lidar: np.ndarray
    T_world_ego: np.ndarray
    cameras: tuple[_CameraPlan, ...]


class RosbagSource(PlannedSource[_FramePlan]):
    """Frames of one or more ROS bags, in bag order then scan order.

    Args:
        path: a bag (rosbag2 folder, ``.mcap``/``.db3`` file, ROS 1 ``.bag``), a list of them, or a
            folder of bags (e.g. the synthetic drive's ``rosbag/`` with one bag per scene).
        lidar_topic: PointCloud2 topic; None = the bag's only PointCloud2 topic.
        cameras: ``{name: image_topic}`` or ``{name: (image_topic, info_topic)}`` (info defaults
            to ``<namespace>/camera_info``); None = every Image/CompressedImage topic with a
            CameraInfo topic in its namespace (named by the namespace, sorted); ``{}`` = none.
            A mono16 Image topic ``<namespace>/instance_mask`` (the synthetic drive's oracle) is
            attached as ``CameraView.instance_mask``, matched to the image by exact stamp.
        world_frame: fixed frame of ``T_world_ego``; None = root of the ego frame's TF tree.
        ego_frame: vehicle frame.
        label_field: cloud field holding raw label ids (e.g. ``label``); None = no labels.
        label_map: map of those raw ids (LabelMap, built-in name or YAML path); required with
            ``label_field``.
        pair_tolerance_s: largest |t_image - t_scan| for a camera to pair with a scan.
        on_error: ``raise`` or ``skip`` (count in :attr:`skipped`, warn) for a bad frame.
        drop_nonfinite: drop points with NaN/inf coordinates (counted) instead of failing.

    Attributes:
        bags: bag paths; ``sequence`` of a frame is its bag's name.
        lidar_topic: per bag, the PointCloud2 topic read.
        cameras: per bag, the cameras attached to each frame.
        skipped: frames left out, per reason (``bad_cloud``, ``missing_camera``,
            ``missing_camera_info``, ``tf_missing_link``, ``tf_out_of_range``,
            ``nonfinite_points``, ``bad_image``, ``missing_label_field``,
            ``missing_instance_mask``).
        dropped_points: points dropped with ``drop_nonfinite`` (key ``nonfinite``).
    """

    def __init__(self, path: str | Path | Sequence[str | Path], lidar_topic: str | None = None,
                 cameras: Mapping[str, str | tuple[str, str]] | None = None,
                 world_frame: str | None = "map", ego_frame: str = "base_link",
                 label_field: str | None = None, label_map: LabelMap | str | Path | None = None,
                 pair_tolerance_s: float = 0.05, on_error: OnError = "raise",
                 drop_nonfinite: bool = False) -> None:
        super().__init__(on_error)
        if label_field is not None and label_map is None:
            raise DatasetError(f"label_field={label_field!r} needs a label_map (a LabelMap, a "
                               f"built-in name such as 'nuscenes', or a YAML path)")
        self.bags = expand_bags(path)
        self.drop_nonfinite = drop_nonfinite
        self.ego_frame, self.world_frame = ego_frame, world_frame
        self.label_field = label_field
        self.label_map = (load_label_map(label_map) if isinstance(label_map, (str, Path))
                          else label_map)
        self.tolerance_ns = int(round(pair_tolerance_s * 1e9))
        self.dropped_points: dict[str, int] = {}
        self.lidar_topic: list[str] = []
        self.cameras: list[tuple[CameraTopics, ...]] = []
        self._readers: dict[int, tuple[Any, dict[str, list[Any]]]] = {}
        self._pid = os.getpid()
        for index, bag in enumerate(self.bags):
            self._index_bag(index, bag, lidar_topic, cameras)
        self._log_skipped(self._where())

    # ----------------------------------------------------------------------------- reading --

    def _where(self) -> str:
        return str(self.bags[0]) if len(self.bags) == 1 else f"{len(self.bags)} bags"

    def _reader(self, index: int) -> Any:
        """Open reader of bag ``index`` (reopened after a fork: one per process)."""
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        if self._pid != os.getpid():
            self._readers, self._pid = {}, os.getpid()
        if index not in self._readers:
            bag = self.bags[index]
            store = Stores.ROS1_NOETIC if bag.suffix == ".bag" else Stores.ROS2_HUMBLE
            try:
                reader = AnyReader([bag], default_typestore=get_typestore(store))
                reader.open()
            except Exception as err:  # rosbags raises several unrelated types here
                raise BagError(f"{bag}: cannot open bag: {err}") from err
            conns: dict[str, list[Any]] = {}  # a topic may have several (ROS 1 publishers)
            for conn in reader.connections:
                conns.setdefault(conn.topic, []).append(conn)
            self._readers[index] = (reader, conns)
        return self._readers[index][0]

    def close(self) -> None:
        """Close the open bags (they reopen on the next read)."""
        for reader, _ in self._readers.values():
            reader.close()
        self._readers = {}

    def __enter__(self) -> RosbagSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_readers"] = {}
        return state

    def _conns(self, index: int, topic: str) -> list[Any]:
        self._reader(index)
        return self._readers[index][1][topic]

    def _message(self, index: int, topic: str, ref: _Ref) -> Any:
        reader = self._reader(index)
        found = [(conn, raw) for conn, _, raw in reader.messages(
            self._conns(index, topic), start=ref.bag_time_ns, stop=ref.bag_time_ns + 1)]
        if len(found) <= ref.rank:
            raise BagError(f"{self.bags[index]}: {topic} message at bag time {ref.bag_time_ns} "
                           f"vanished since the bag was indexed")
        conn, raw = found[ref.rank]
        return reader.deserialize(raw, conn.msgtype)

    # ---------------------------------------------------------------------------- indexing --

    def _index_bag(self, index: int, bag: Path, lidar_topic: str | None,
                   cameras: Mapping[str, str | tuple[str, str]] | None) -> None:
        reader = self._reader(index)
        topics = {c.topic: c.msgtype for c in reader.connections}
        topic, cams = select_topics(bag, topics, lidar_topic, cameras)
        self.lidar_topic.append(topic)
        self.cameras.append(cams)

        tf = TransformTree(str(bag))
        tf_conns = [c for c in reader.connections
                    if c.topic in ("/tf", "/tf_static") and c.msgtype in TF_TYPES]
        try:
            for conn, _, raw in reader.messages(tf_conns):
                tf.add_message(reader.deserialize(raw, conn.msgtype),
                               static=conn.topic == "/tf_static")
        except TransformError as err:  # a TF tree that breaks the rules is a bad bag
            raise BagError(str(err)) from err
        if self.ego_frame not in tf.frames:
            raise BagError(f"{bag}: ego frame {self.ego_frame!r} is in no /tf or /tf_static "
                           f"message; frames are {sorted(tf.frames)}")
        world = self.world_frame or tf.root(self.ego_frame)
        if world not in tf.frames:
            raise BagError(f"{bag}: world frame {world!r} is in no /tf message; frames are "
                           f"{sorted(tf.frames)} (pass world_frame=None for the root of "
                           f"{self.ego_frame!r}'s tree, {tf.root(self.ego_frame)!r})")

        clouds = self._scan(index, topic, check_cloud=True)
        masks = {cam.name: {r.stamp_ns: r for r in self._refs(index, cam.mask_topic)}
                 for cam in cams if cam.mask_topic is not None}
        images = {}
        for cam in cams:
            refs = sorted(self._refs(index, cam.image_topic), key=lambda r: r.stamp_ns)
            images[cam.name] = (np.asarray([r.stamp_ns for r in refs], dtype=np.int64), refs)
        infos = {cam.name: self._camera_infos(index, cam) for cam in cams}
        for ref in clouds:
            if not isinstance(ref, _Ref):  # a cloud whose layout was refused
                self._reject(ref)
                continue
            try:
                self._plans.append(self._plan(index, bag, tf, world, topic, ref, cams, images,
                                              infos, masks))
            except TransformError as err:
                self._reject(BagFrameError(err.reason, f"{topic} at {ref.stamp_ns} ns: {err}"))
            except BagFrameError as err:
                self._reject(err)

    def _refs(self, index: int, topic: str) -> list[_Ref]:
        """Refs of every message on a camera topic (no layout check: no errors), bag order."""
        return [ref for ref in self._scan(index, topic) if isinstance(ref, _Ref)]

    def _scan(self, index: int, topic: str, check_cloud: bool = False
              ) -> list[_Ref | BagFrameError]:
        """Refs of every message on ``topic`` in bag order (clouds: layout errors instead)."""
        reader = self._reader(index)
        refs: list[Any] = []
        last_time, rank = None, 0
        for conn, bag_time, raw in reader.messages(self._conns(index, topic)):
            rank = rank + 1 if bag_time == last_time else 0
            last_time = bag_time
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = stamp_to_ns(msg.header.stamp)
            ref = _Ref(bag_time, rank, stamp, msg.header.frame_id.lstrip("/"))
            where = f"{self.bags[index]}: {topic} at stamp {stamp} ns"
            if check_cloud:
                try:
                    names = decode(msg, require=XYZ).dtype.names or ()
                except CodecError as err:
                    error = BagFrameError("bad_cloud", f"{where}: {err}")
                    error.__cause__ = err
                    refs.append(error)
                    continue
                if self.label_field is not None and self.label_field not in names:
                    refs.append(BagFrameError("missing_label_field", f"{where}: no label field "
                                              f"{self.label_field!r}; fields are {list(names)}"))
                    continue
            refs.append(ref)
        return refs

    def _camera_infos(self, index: int, cam: CameraTopics) -> tuple[np.ndarray, list[np.ndarray]]:
        reader = self._reader(index)
        stamps, Ks = [], []
        for conn, _, raw in reader.messages(self._conns(index, cam.info_topic)):
            msg = reader.deserialize(raw, conn.msgtype)
            k = getattr(msg, "k", None)
            stamps.append(stamp_to_ns(msg.header.stamp))
            Ks.append(np.asarray(k if k is not None else msg.K, dtype=np.float64).reshape(3, 3))
        return np.asarray(stamps, dtype=np.int64), Ks

    def _plan(self, index: int, bag: Path, tf: TransformTree, world: str, topic: str, ref: _Ref,
              cams: tuple[CameraTopics, ...], images: dict[str, tuple[np.ndarray, list[_Ref]]],
              infos: dict[str, tuple[np.ndarray, list[np.ndarray]]],
              masks: dict[str, dict[int, _Ref]]) -> _FramePlan:
        t = ref.stamp_ns
        T_ego_lidar = tf.lookup(self.ego_frame, ref.frame_id, t)
        T_world_ego = tf.lookup(world, self.ego_frame, t)
        planned = []
        for cam in cams:
            stamps, refs = images[cam.name]
            if not refs:
                raise BagFrameError("missing_camera", f"{bag}: {cam.image_topic} has no images")
            i = int(np.searchsorted(stamps, t))
            near = [j for j in (i - 1, i) if 0 <= j < len(refs)]
            best = refs[min(near, key=lambda j: abs(int(stamps[j]) - t))]
            if abs(best.stamp_ns - t) > self.tolerance_ns:
                raise BagFrameError("missing_camera", f"{bag}: {cam.image_topic} has no image "
                                    f"within {self.tolerance_ns / 1e9:g} s of scan {topic} at {t} "
                                    f"ns (nearest {(best.stamp_ns - t) / 1e9:+.3f} s)")
            info_stamps, Ks = infos[cam.name]
            if not len(info_stamps):
                raise BagFrameError("missing_camera_info", f"{bag}: {cam.info_topic} has no "
                                    f"CameraInfo messages")
            K = Ks[int(np.argmin(np.abs(info_stamps - best.stamp_ns)))]
            T_world_ego_cam = tf.lookup(world, self.ego_frame, best.stamp_ns)
            T_ego_cam = tf.lookup(self.ego_frame, best.frame_id, best.stamp_ns)
            T_cam_lidar = camera_from_lidar(T_ego_lidar, T_world_ego, T_world_ego_cam, T_ego_cam)
            mask = None
            if cam.mask_topic is not None:
                mask = masks[cam.name].get(best.stamp_ns)
                if mask is None:
                    raise BagFrameError("missing_instance_mask", f"{bag}: {cam.mask_topic} has no "
                                        f"mask stamped {best.stamp_ns} ns like its image")
            planned.append(_CameraPlan(cam, best, K, T_cam_lidar, mask))
        return _FramePlan(index, ref, T_ego_lidar, T_world_ego, tuple(planned))

    # ----------------------------------------------------------------------------- loading --

    def _image(self, index: int, plan: _CameraPlan) -> np.ndarray:
        msg = self._message(index, plan.camera.image_topic, plan.ref)
        try:
            return decode_image(msg, f"{self.bags[index]}: {plan.camera.image_topic} at "
                                     f"{plan.ref.stamp_ns} ns")
        except ValueError as err:
            raise BagFrameError("bad_image", str(err)) from err

    def _mask(self, index: int, plan: _CameraPlan) -> np.ndarray | None:
        if plan.mask is None or plan.camera.mask_topic is None:
            return None
        msg = self._message(index, plan.camera.mask_topic, plan.mask)
        try:
            return decode_mask(msg, f"{self.bags[index]}: {plan.camera.mask_topic} at "
                                    f"{plan.mask.stamp_ns} ns")
        except ValueError as err:
            raise BagFrameError("bad_image", str(err)) from err

    def load(self, plan: _FramePlan) -> Frame:
        """Read one planned frame from its bag."""
        index, ref = plan.bag, plan.ref
        topic = self.lidar_topic[index]
        where = f"{self.bags[index]}: {topic} at stamp {ref.stamp_ns} ns"
        msg = self._message(index, topic, ref)
        try:
            cloud = decode(msg, require=XYZ)
            names = cloud.dtype.names or ()
            channels = XYZ + tuple(c for c in EXTRA_CHANNELS if c in names)
            points = read_points(cloud, channels, np.float32)
            labels = (read_field(cloud, self.label_field, np.uint32)
                      if self.label_field is not None else None)
            instances = read_field(cloud, "instance", np.uint32) if "instance" in names else None
        except CodecError as err:
            raise BagFrameError("bad_cloud", f"{where}: {err}") from err
        finite = np.isfinite(points[:, :3]).all(axis=1)
        if not finite.all():
            bad = int((~finite).sum())
            if not self.drop_nonfinite:
                raise BagFrameError("nonfinite_points", f"{where}: {bad} of {len(points)} points "
                                    f"have NaN/inf coordinates (pass drop_nonfinite=True to drop)")
            self.dropped_points["nonfinite"] = self.dropped_points.get("nonfinite", 0) + bad
            points = points[finite]
            labels = labels[finite] if labels is not None else None
            instances = instances[finite] if instances is not None else None
        cameras = tuple(
            CameraView(name=cam.camera.name,
                       image_id=f"{cam.camera.image_topic}/{cam.ref.stamp_ns}",
                       image=self._image(index, cam), K=cam.K, T_cam_lidar=cam.T_cam_lidar,
                       stamp_ns=cam.ref.stamp_ns, instance_mask=self._mask(index, cam))
            for cam in plan.cameras)
        bag = self.bags[index]
        return Frame(frame_id=f"{topic}/{ref.stamp_ns}",
                     sequence=bag.stem if bag.is_file() else bag.name, points=points,
                     channels=channels, stamp_ns=ref.stamp_ns, T_ego_lidar=plan.T_ego_lidar,
                     T_world_ego=plan.T_world_ego, cameras=cameras, labels=labels,
                     label_map=self.label_map if labels is not None else None,
                     instances=instances,
                     extras={"bag": str(bag), "bag_time_ns": ref.bag_time_ns,
                             "lidar_frame": ref.frame_id})

    # ------------------------------------------------------------------------ sequence API --

    @property
    def frame_ids(self) -> list[str]:
        return [f"{self.lidar_topic[p.bag]}/{p.ref.stamp_ns}" for p in self._plans]

    def __repr__(self) -> str:
        return (f"RosbagSource({self._where()}, {len(self)} frames, lidar={self.lidar_topic}, "
                f"cameras={[[c.name for c in cams] for cams in self.cameras]})")


__all__ = ["CameraTopics", "RosbagSource"]
