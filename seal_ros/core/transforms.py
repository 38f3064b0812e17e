"""Rigid transforms, quaternions and the TF tree: one copy for the node and the offline readers.

Conventions (shared with :mod:`seal_ros.core.projection`):

- ``T_b_a`` is a (4, 4) float64 rigid transform mapping coordinates in frame ``a`` to frame ``b``.
- Quaternions are ``(x, y, z, w)`` (ROS order) unless a name says otherwise; nuScenes'
  ``(w, x, y, z)`` is converted at its reader.

:class:`TransformTree` holds a TF tree (each frame has at most one parent). Static edges
(``/tf_static``, or anything the caller wants kept as "newest only") hold at every time and a newer
one replaces the old. Stamped edges (``/tf``) are time series, interpolated linearly in translation
and by slerp in rotation between the two samples around the asked stamp; a stamp outside an edge's
samples is an error, never extrapolated. The node stores every TF message as static (bounded
memory, it needs only camera extrinsics); bag readers keep ``/tf`` stamped.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seal_ros.errors import TransformError, TransformReason

__all__ = ["TransformTree", "camera_from_lidar", "invert_rigid", "make_transform",
           "matrix_from_quat", "quat_from_matrix", "rigid", "slerp"]


# ------------------------------------------------------------------------------------ maths --

def rigid(R: np.ndarray, t: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """(4, 4) float64 transform from a (3, 3) rotation and a (3,) translation."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def invert_rigid(T: np.ndarray) -> np.ndarray:
    """Inverse of a (4, 4) rigid transform (exact transpose of the rotation)."""
    R = T[:3, :3]
    return rigid(R.T, -R.T @ T[:3, 3])


def quat_from_matrix(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> unit quaternion ``(x, y, z, w)`` with ``w >= 0`` (Shepperd's method)."""
    R = np.asarray(R, dtype=np.float64)
    m00, m01, m02 = R[0]
    m10, m11, m12 = R[1]
    m20, m21, m22 = R[2]
    trace = m00 + m11 + m22
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, 0.25 * s]
    elif m00 > m11 and m00 > m22:
        s = 2.0 * np.sqrt(1.0 + m00 - m11 - m22)
        q = [0.25 * s, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s]
    elif m11 > m22:
        s = 2.0 * np.sqrt(1.0 + m11 - m00 - m22)
        q = [(m01 + m10) / s, 0.25 * s, (m12 + m21) / s, (m02 - m20) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m22 - m00 - m11)
        q = [(m02 + m20) / s, (m12 + m21) / s, 0.25 * s, (m10 - m01) / s]
    quat = np.asarray(q, dtype=np.float64)
    quat /= np.linalg.norm(quat)
    return -quat if quat[3] < 0 else quat


def _unit(q: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """``q`` normalised; a zero or non-finite quaternion has no rotation to give."""
    q = np.asarray(q, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(q)) if q.shape == (4,) else 0.0
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"quaternion {q.tolist()} has no direction; expected four finite "
                         f"numbers (x, y, z, w), not all zero")
    return q / norm


def matrix_from_quat(q: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Quaternion ``(x, y, z, w)`` (normalised here) -> (3, 3) float64 rotation.

    Raises:
        ValueError: ``q`` is not four finite numbers with a non-zero norm.
    """
    x, y, z, w = _unit(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def make_transform(translation: np.ndarray | tuple[float, ...],
                   quat: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """(4, 4) float64 from a translation (3,) and a quaternion ``(x, y, z, w)``."""
    return rigid(matrix_from_quat(quat), translation)


def slerp(q0: np.ndarray, q1: np.ndarray, alpha: float) -> np.ndarray:
    """Spherical interpolation from ``q0`` (alpha 0) to ``q1`` (alpha 1), shortest arc."""
    q0, q1 = _unit(q0), _unit(q1)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly equal: normalised lerp is exact enough and stable
        q = q0 + alpha * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1 - alpha) * theta) * q0 + np.sin(alpha * theta) * q1) / np.sin(theta)


def camera_from_lidar(T_ego_lidar: np.ndarray, T_world_ego_lidar: np.ndarray,
                      T_world_ego_cam: np.ndarray, T_ego_cam: np.ndarray) -> np.ndarray:
    """SLidR's chain, each sensor at its own stamp: LiDAR -> ego(t_lidar) -> world -> ego(t_cam)
    -> camera. Returns T_cam_lidar."""
    return invert_rigid(T_ego_cam) @ invert_rigid(T_world_ego_cam) @ T_world_ego_lidar @ T_ego_lidar


# ------------------------------------------------------------------------------------- tree --

@dataclass
class _Series:
    """Samples of one stamped edge (parent -> child), sorted when first looked up."""

    parent: str
    stamps: list[int] = field(default_factory=list)
    translations: list[np.ndarray] = field(default_factory=list)
    quats: list[np.ndarray] = field(default_factory=list)


def _clean(frame: str) -> str:
    return str(frame).lstrip("/")  # ROS 1 frames may carry a leading slash


class TransformTree:
    """Static and stamped TF edges; :meth:`lookup` composes them along the tree at a stamp.

    Thread-safe: the node's reader thread adds while its worker looks up.

    Args:
        where: prefix of error messages (the bag path, or ``tf`` for the node).
    """

    def __init__(self, where: str = "tf") -> None:
        self.where = where
        self._static: dict[str, tuple[str, np.ndarray]] = {}  # child -> (parent, T_parent_child)
        self._stamped: dict[str, _Series] = {}  # child -> samples
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # sorted samples
        self._lock = threading.RLock()

    # ------------------------------------------------------------------------------ adding --

    def _refuse(self, message: str) -> TransformError:
        return TransformError(TransformReason.BAD_EDGE, f"{self.where}: {message}")

    def _check_edge(self, parent: str, child: str, static: bool) -> None:
        """One parent per frame, no cycle, and a frame is either static or stamped."""
        if parent == child:
            raise self._refuse(f"TF transform from {parent!r} to itself")
        known = self._parent(child)
        if known is not None and known != parent:
            raise self._refuse(f"frame {child!r} has two parents in TF, {known!r} and {parent!r}; "
                               f"a TF tree allows one")
        if child in (self._stamped if static else self._static):
            raise self._refuse(f"frame {child!r} is in both /tf_static and /tf")
        if known is None and child in self._chain(parent):
            raise self._refuse(f"TF {parent!r} -> {child!r} would close a cycle through "
                               f"{self._chain(parent)}")

    def add(self, parent: str, child: str, stamp_ns: int, translation: np.ndarray,
            quat: np.ndarray, static: bool = False) -> None:
        """Add one transform ``T_parent_child`` (from ``/tf_static`` when ``static``).

        Raises:
            TransformError: reason ``tf_bad_edge``: a non-finite value or zero quaternion, a
                second parent, a cycle, or a frame both static and stamped.
        """
        parent, child = _clean(parent), _clean(child)
        translation = np.asarray(translation, dtype=np.float64).reshape(-1)
        quat = np.asarray(quat, dtype=np.float64).reshape(-1)
        if not (translation.shape == (3,) and np.all(np.isfinite(translation))
                and quat.shape == (4,) and np.all(np.isfinite(quat))
                and np.linalg.norm(quat) > 1e-9):
            raise self._refuse(f"TF {parent!r} -> {child!r} at {stamp_ns} ns is not finite or "
                               f"has a zero quaternion (translation {translation.tolist()}, "
                               f"rotation {quat.tolist()})")
        with self._lock:
            self._check_edge(parent, child, static)
            if static:
                self._static[child] = (parent, make_transform(translation, quat))
                return
            series = self._stamped.setdefault(child, _Series(parent))
            series.stamps.append(int(stamp_ns))
            series.translations.append(translation)
            series.quats.append(quat / np.linalg.norm(quat))
            self._arrays.pop(child, None)

    def add_message(self, msg: Any, static: bool) -> int:
        """Add every ``geometry_msgs/TransformStamped`` of a ``tf2_msgs/TFMessage``; returns how
        many were added (an error stops at the bad one)."""
        from seal_ros.core.codec import stamp_to_ns

        count = 0
        for tf in msg.transforms:
            t, r = tf.transform.translation, tf.transform.rotation
            self.add(tf.header.frame_id, tf.child_frame_id, stamp_to_ns(tf.header.stamp),
                     np.array([t.x, t.y, t.z]), np.array([r.x, r.y, r.z, r.w]), static=static)
            count += 1
        return count

    # ----------------------------------------------------------------------------- queries --

    @property
    def frames(self) -> set[str]:
        """Every frame named in the tree."""
        with self._lock:
            names = set(self._static) | set(self._stamped)
            names |= {parent for parent, _ in self._static.values()}
            names |= {series.parent for series in self._stamped.values()}
        return names

    def _parent(self, frame: str) -> str | None:
        if frame in self._static:
            return self._static[frame][0]
        series = self._stamped.get(frame)
        return series.parent if series is not None else None

    def _chain(self, frame: str) -> list[str]:
        """``[frame, parent, grandparent, ..., root]`` (edges are checked acyclic when added)."""
        chain = [frame]
        while (up := self._parent(chain[-1])) is not None:
            chain.append(up)
        return chain

    def root(self, frame: str) -> str:
        """Root of the tree ``frame`` belongs to."""
        self._require(frame)
        with self._lock:
            return self._chain(_clean(frame))[-1]

    def _require(self, frame: str) -> None:
        frames = self.frames
        if _clean(frame) not in frames:
            raise TransformError(TransformReason.MISSING_LINK,
                                 f"{self.where}: frame {frame!r} is in no /tf "
                                 f"or /tf_static message; frames are {sorted(frames)}")

    def _edge(self, child: str, stamp_ns: int | None) -> np.ndarray:
        """``T_parent_child`` at ``stamp_ns`` (None: static edges only)."""
        if child in self._static:
            return self._static[child][1]
        series = self._stamped[child]
        if stamp_ns is None:
            raise TransformError(TransformReason.NEEDS_STAMP,
                                 f"{self.where}: TF {series.parent!r} -> "
                                 f"{child!r} varies in time (/tf); a lookup through it needs a "
                                 f"stamp")
        if child not in self._arrays:
            stamps = np.asarray(series.stamps, dtype=np.int64)
            order = np.argsort(stamps, kind="stable")
            stamps = stamps[order]
            keep = np.append(stamps[1:] != stamps[:-1], True)  # a repeated stamp: last one wins
            self._arrays[child] = (stamps[keep], np.asarray(series.translations)[order][keep],
                                   np.asarray(series.quats)[order][keep])
        stamps, translations, quats = self._arrays[child]
        if stamp_ns < stamps[0] or stamp_ns > stamps[-1]:
            raise TransformError(TransformReason.OUT_OF_RANGE,
                                 f"{self.where}: TF {series.parent!r} -> "
                                 f"{child!r} is known from {stamps[0]} to {stamps[-1]} ns "
                                 f"({len(stamps)} samples); stamp {stamp_ns} ns is outside (no "
                                 f"extrapolation)")
        i = int(np.searchsorted(stamps, stamp_ns, side="left"))
        if stamps[i] == stamp_ns:
            return make_transform(translations[i], quats[i])
        t0, t1 = int(stamps[i - 1]), int(stamps[i])
        alpha = (stamp_ns - t0) / (t1 - t0)
        translation = translations[i - 1] + alpha * (translations[i] - translations[i - 1])
        return make_transform(translation, slerp(quats[i - 1], quats[i], alpha))

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> np.ndarray:
        """(4, 4) ``T_target_source`` at ``stamp_ns`` (maps ``source`` coordinates to ``target``).

        ``stamp_ns`` None looks up through static edges only (the node's extrinsics).

        Raises:
            TransformError: a frame is unknown or the two are in different trees (message names
                both and their roots; reason ``tf_missing_link``), or a stamped edge on the path
                has no samples around the stamp (``tf_out_of_range``) or no stamp was given
                (``tf_needs_stamp``).
        """
        target, source = _clean(target), _clean(source)
        self._require(target)
        self._require(source)
        with self._lock:
            up_source, up_target = self._chain(source), self._chain(target)
            on_target = set(up_target)
            common = next((f for f in up_source if f in on_target), None)
            if common is None:
                raise TransformError(TransformReason.MISSING_LINK,
                                     f"{self.where}: no TF link between "
                                     f"{target!r} and {source!r}: {target!r} is under root "
                                     f"{up_target[-1]!r}, {source!r} under root "
                                     f"{up_source[-1]!r}")
            T_common_source = np.eye(4)
            for child in up_source[:up_source.index(common)]:
                T_common_source = self._edge(child, stamp_ns) @ T_common_source
            T_common_target = np.eye(4)
            for child in up_target[:up_target.index(common)]:
                T_common_target = self._edge(child, stamp_ns) @ T_common_target
        return invert_rigid(T_common_target) @ T_common_source

    def __len__(self) -> int:
        """Number of edges (static and stamped)."""
        return len(self._static) + len(self._stamped)
