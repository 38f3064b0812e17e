"""Seal on the vehicle: PointCloud2 codec, sparse-network engines and the segmentation node.

Runtime only: nothing here imports ``seal_train`` or training dependencies.
"""

__version__ = "0.1.0"
