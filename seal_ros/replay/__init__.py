"""Deterministic replay of a recording through the segmentation node: ``python -m seal_ros.replay``.

The vehicle's own :class:`~seal_ros.node.core.SegmentationNode` runs over the clouds of a rosbag2 or
ROS 1 bag; the replay adds mIoU (one confusion matrix over the run), latency percentiles per stage
and an MCAP output bag. See :mod:`seal_ros.replay.command`.
"""

from seal_ros.replay.command import ReplaySummary, format_summary, main, replay

__all__ = ["ReplaySummary", "format_summary", "main", "replay"]
