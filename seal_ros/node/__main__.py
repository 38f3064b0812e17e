"""``python -m seal_ros.node``: the segmentation node on the DDS transport (see dds_node)."""

import sys

from seal_ros.adapters.dds_node import main

sys.exit(main())
