"""Scene estimates from the LiDAR alone: the ground plane and 3D clusters of what stands on it.

One home for both, so corruptions (wet ground, incomplete echo), LiDAR-prompted superpixels and
the temporal objective remove the ground and find objects the same way.
"""

from seal_train.scene.clusters import NOISE, cluster_points
from seal_train.scene.ground import (
    GROUND_BAND_M,
    GroundPlane,
    fit_ground_plane,
    ground_mask,
    vehicle_like_mask,
)

__all__ = ["GROUND_BAND_M", "NOISE", "GroundPlane", "cluster_points", "fit_ground_plane",
           "ground_mask", "vehicle_like_mask"]
