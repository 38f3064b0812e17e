"""Superpixels: per-image segments from SLIC, VFMs or oracle masks, cached in a store."""

from seal_train.superpixels.sources import (
                                           SOURCES,
                                           OracleSlicSource,
                                           OracleSource,
                                           SlicSource,
                                           SuperpixelSource,
                                           make_source,
)
from seal_train.superpixels.store import NO_SEGMENT, Manifest, SuperpixelStore, densify

__all__ = ["NO_SEGMENT", "SOURCES", "Manifest", "OracleSlicSource", "OracleSource", "SlicSource",
           "SuperpixelSource", "SuperpixelStore", "densify", "make_source"]
