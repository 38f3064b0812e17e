"""Models: config records, builders, the pretraining model, and the runtime's networks.

The sparse backbone (MinkUNet on spconv) and voxelisation live in the runtime (``seal_ros.core``),
which runs the same model on vehicles; importing them installs the spconv CPU fixes
(:mod:`seal_ros.core.spconv_patch`). Names load on first use, so the config records
(:mod:`seal_train.models.config`) import without torch.
"""

from __future__ import annotations

from seal_ros.lazy import lazy_exports

_EXPORTS = {
    "seal_train.models.config": ("Backbone", "Device", "GridKind", "ModelConfig",
                                 "TeacherConfig"),
    "seal_train.models.builders": ("build_backbone", "build_grid", "build_teacher",
                                   "resolve_device"),
    "seal_train.models.pretrain_model": ("PretrainModel",),
    "seal_ros.core.minkunet": ("BACKBONES", "BasicBlock", "MinkUNet", "build_minkunet",
                               "build_minkunet18", "build_minkunet34"),
    "seal_ros.core.spconv_patch": ("SpconvFixes", "apply_spconv_cpu_fixes", "spconv_cpu_fixes"),
    "seal_ros.core.voxel_grid": ("VoxelGrid",),
    "seal_ros.core.voxelize": ("SparseBatch", "point_cells", "voxelize"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
__all__ = sorted(n for names in _EXPORTS.values() for n in names)
