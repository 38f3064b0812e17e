"""ROS-free core of the node: codec, voxelisation, kernel maps, engines, pipeline."""
