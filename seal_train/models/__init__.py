"""Sparse 3D backbones (MinkUNet on spconv) and LiDAR voxelisation.

The network and voxelisation live in the runtime (``seal_ros.core``), which runs the same model on
vehicles; importing them installs the spconv CPU fixes (:mod:`seal_ros.core.spconv_patch`).
"""

from seal_ros.core.minkunet import (
    BACKBONES,
    BasicBlock,
    MinkUNet,
    build_minkunet,
    build_minkunet18,
    build_minkunet34,
)
from seal_ros.core.spconv_patch import SpconvFixes, apply_spconv_cpu_fixes, spconv_cpu_fixes
from seal_ros.core.voxelize import (
    GridKind,
    SparseBatch,
    VoxelGrid,
    point_cells,
    voxelize,
)

__all__ = [
    "BACKBONES",
    "BasicBlock",
    "GridKind",
    "MinkUNet",
    "SparseBatch",
    "SpconvFixes",
    "VoxelGrid",
    "apply_spconv_cpu_fixes",
    "build_minkunet",
    "build_minkunet18",
    "build_minkunet34",
    "point_cells",
    "spconv_cpu_fixes",
    "voxelize",
]
