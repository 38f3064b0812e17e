"""Superpixels: per-image segments from SLIC, VFMs or oracle masks, cached in a store."""

from seal_train.superpixels.imported import ImportedMasksSource, MaskFormat
from seal_train.superpixels.sources import (
                                           SOURCE_NAMES,
                                           SOURCES,
                                           ClassifyingSource,
                                           OracleSlicSource,
                                           OracleSource,
                                           SamSettings,
                                           SkipImage,
                                           SlicSource,
                                           SuperpixelSource,
                                           make_source,
                                           segment_image,
)
from seal_train.superpixels.store import NO_SEGMENT, Manifest, SuperpixelStore, densify

__all__ = ["NO_SEGMENT", "SOURCES", "SOURCE_NAMES", "ClassifyingSource", "ImportedMasksSource",
           "Manifest", "MaskFormat", "OracleSlicSource", "OracleSource", "SamSettings",
           "SkipImage", "SlicSource", "SuperpixelSource", "SuperpixelStore", "densify",
           "make_source", "segment_image"]
