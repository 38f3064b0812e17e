"""Errors raised by the offline tools; all derive from :class:`seal_ros.errors.SealError`."""

from __future__ import annotations

from seal_ros.errors import ConfigError, SealError


class DatasetError(SealError):
    """A dataset on disk is missing a file, a field or a calibration, or disagrees with itself."""


class BagError(DatasetError):
    """A ROS bag lacks a topic or TF link, or a message in it is malformed."""


class ExportError(SealError):
    """The network could not be exported, or the exported graph is not deployable."""


class TrainingError(SealError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""


__all__ = ["BagError", "ConfigError", "DatasetError", "ExportError", "SealError",
           "TrainingError"]
