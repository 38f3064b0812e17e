"""Data sources: every dataset format yields :class:`Frame` records."""

from seal_train.sources.detect import SourceKind, detect, open_source, open_split
from seal_train.sources.frame import MIN_DEPTH_M, CameraView, Frame, Pairs, project, project_points
from seal_train.sources.labels import LabelMap, load_label_map, palette_for

__all__ = ["MIN_DEPTH_M", "CameraView", "Frame", "LabelMap", "Pairs", "SourceKind", "detect",
           "load_label_map", "open_source", "open_split", "palette_for", "project",
           "project_points"]
