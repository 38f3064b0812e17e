"""Rigid transforms and quaternions shared by the readers, the TF buffer and the synthetic drive.

Quaternions are ``(x, y, z, w)`` (ROS order) unless a name says otherwise; nuScenes'
``(w, x, y, z)`` is converted at its reader.
"""

from __future__ import annotations

import numpy as np


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


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """Quaternion ``(x, y, z, w)`` (normalised here) -> (3, 3) rotation."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def make_transform(translation: np.ndarray, quat: np.ndarray) -> np.ndarray:
    """(4, 4) float64 from a translation (3,) and a quaternion ``(x, y, z, w)``."""
    return rigid(matrix_from_quat(quat), translation)


def slerp(q0: np.ndarray, q1: np.ndarray, alpha: float) -> np.ndarray:
    """Spherical interpolation from ``q0`` (alpha 0) to ``q1`` (alpha 1), shortest arc."""
    q0 = q0 / np.linalg.norm(q0)
    q1 = q1 / np.linalg.norm(q1)
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
