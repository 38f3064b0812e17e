"""Rotations for hand-built test rigs and poses."""

from __future__ import annotations

import numpy as np


def axis_rotation(axis: int, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about axis 0 (x), 1 (y) or 2 (z)."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R
