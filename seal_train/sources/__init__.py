"""Data sources: every dataset format yields :class:`Frame` records."""

from seal_train.sources.detect import SourceKind, detect, open_source, open_split
from seal_train.sources.frame import CameraView, Frame, Pairs, project

__all__ = ["CameraView", "Frame", "Pairs", "SourceKind", "detect", "open_source", "open_split",
           "project"]
