"""A small TF buffer for the node: latest transform per child frame, lookups through the tree.

The node needs one thing from TF: where each camera sits relative to the LiDAR (``/tf_static``:
``base_link -> lidar_top`` and ``base_link -> cam_front_optical``). A full tf2 buffer (history,
interpolation) is not needed for static extrinsics, so this keeps only the newest transform per
child frame; memory is bounded by the number of frames, not of messages.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["TransformTree", "matrix_from_quaternion", "transform_matrix"]


def matrix_from_quaternion(x: float, y: float, z: float, w: float) -> np.ndarray:
    """(3, 3) float64 rotation of a (normalised here) ``x, y, z, w`` quaternion."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"quaternion {q.tolist()} has no direction; expected a unit quaternion")
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def transform_matrix(transform: Any) -> np.ndarray:
    """(4, 4) float64 of a ``geometry_msgs/Transform`` (translation + rotation quaternion)."""
    r, t = transform.rotation, transform.translation
    T = np.eye(4)
    T[:3, :3] = matrix_from_quaternion(r.x, r.y, r.z, r.w)
    T[:3, 3] = (t.x, t.y, t.z)
    return T


class TransformTree:
    """Newest ``T_parent_child`` per child frame; :meth:`lookup` composes along the tree.

    Thread-safe: the adapter's reader thread adds, the worker thread looks up.
    """

    def __init__(self) -> None:
        self._edges: dict[str, tuple[str, np.ndarray]] = {}  # child -> (parent, T_parent_child)
        self._lock = threading.Lock()

    def add(self, parent: str, child: str, T_parent_child: np.ndarray) -> None:
        """Set the transform that maps ``child`` coordinates into ``parent``'s."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if parent == child:
            raise ValueError(f"transform from {child!r} to itself")
        with self._lock:
            self._edges[child] = (parent, np.asarray(T_parent_child, dtype=np.float64))

    def add_message(self, msg: Any) -> int:
        """Add every transform of a ``tf2_msgs/TFMessage``; returns how many were added."""
        count = 0
        for stamped in msg.transforms:
            self.add(str(stamped.header.frame_id), str(stamped.child_frame_id),
                     transform_matrix(stamped.transform))
            count += 1
        return count

    def _to_root(self, frame: str) -> tuple[list[str], np.ndarray]:
        """Frames from ``frame`` up to its root and ``T_root_frame``."""
        chain = [frame]
        T = np.eye(4)
        while frame in self._edges and len(chain) <= len(self._edges) + 1:
            parent, T_parent_child = self._edges[frame]
            T = T_parent_child @ T
            frame = parent
            chain.append(frame)
        return chain, T

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """``T_target_source`` (maps ``source`` coordinates into ``target``); None: unconnected."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return np.eye(4)
        with self._lock:
            chain_s, T_root_s = self._to_root(source)
            chain_t, T_root_t = self._to_root(target)
        if chain_s[-1] != chain_t[-1]:
            return None
        return np.linalg.inv(T_root_t) @ T_root_s

    def __len__(self) -> int:
        return len(self._edges)
