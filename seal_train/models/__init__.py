"""Sparse 3D backbones (MinkUNet on spconv) and LiDAR voxelisation.

Importing this package installs the spconv CPU fixes (see :mod:`seal_train.models.spconv_patch`)
before any network is built.
"""

from seal_train.models.spconv_patch import SpconvFixes, apply_spconv_cpu_fixes, spconv_cpu_fixes

apply_spconv_cpu_fixes()

from seal_train.models.minkunet import (  # noqa: E402
    BACKBONES,
    BasicBlock,
    MinkUNet,
    build_minkunet,
    build_minkunet18,
    build_minkunet34,
)
from seal_train.models.voxelize import (  # noqa: E402
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
