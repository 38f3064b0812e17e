"""The offline tools raise the errors of :mod:`seal_ros.errors` (one tree for both packages)."""

from __future__ import annotations

from seal_ros.errors import (BagError, ConfigError, DatasetError, ExportError, SealError,
                             TrainingError)

__all__ = ["BagError", "ConfigError", "DatasetError", "ExportError", "SealError",
           "TrainingError"]
