"""The one exception tree of the runtime and the offline tools.

Callers catch :class:`SealError`; each subclass names the layer that raised it. Messages name
the file, topic or field at fault and what was expected. Errors about one item that a caller
skips and counts (a cloud, an image, a TF edge, a dataset frame) are :class:`CountedError`\\ s:
their ``reason`` is the short key the count goes under (diagnostics, ``skipped`` tables).

::

    SealError
    ├── CountedError (reason)
    │   ├── CodecError (CodecReason) ── ImageError
    │   ├── InputError (seal_ros.core.pipeline.SkipReason)
    │   ├── TransformError (TransformReason)
    │   └── FrameError (seal_train.sources.planned: a frame of a dataset) [also a DatasetError]
    ├── ConfigError, InterfaceError, TransportError, NetworkPolicyError, EngineError,
    │   TorchFileError
    ├── DatasetError ── BagError
    ├── ExportError
    └── TrainingError
"""

from __future__ import annotations

import enum


class SealError(Exception):
    """Base of every error Seal raises on purpose (bugs raise anything else)."""


class CountedError(SealError):
    """An error about one item that the caller skips and counts under ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CodecReason(enum.StrEnum):
    """Why a message does not decode; the node counts a skipped cloud under the same key."""

    BAD_LAYOUT = "bad_layout"  # unknown datatype, duplicate/empty name, overlapping fields ...
    TOO_MANY_FIELDS = "too_many_fields"  # more fields than codec.MAX_FIELDS
    POINT_STEP = "point_step"  # a field extends past point_step, or point_step <= 0
    MISSING_FIELD = "missing_field"  # a required field is absent
    DATA_LENGTH = "data_length"  # len(data) != height * row_step, or row_step too small
    BAD_VALUES = "bad_values"  # arrays of the wrong type, shape or range
    BAD_IMAGE = "bad_image"  # an Image / CompressedImage that does not decode
    UNKNOWN_TYPE = "unknown_type"  # a message type the converter does not know
    UNDECODABLE = "undecodable"  # serialized bytes that do not deserialize (bad CDR, bad UTF-8)


class CodecError(CountedError):
    """A PointCloud2 (or other message) does not match its declared layout."""

    def __init__(self, reason: CodecReason, message: str) -> None:
        super().__init__(reason, message)


class ImageError(CodecError, ValueError):
    """An Image / CompressedImage message does not decode (encoding, step, size).

    Also a ``ValueError``, which image decoding raised before this class existed.
    """

    def __init__(self, message: str) -> None:
        super().__init__(CodecReason.BAD_IMAGE, message)


class InputError(CountedError):
    """An input message the node cannot process; it is skipped and counted under ``reason``
    (a :class:`seal_ros.core.pipeline.SkipReason`)."""


class TransformReason(enum.StrEnum):
    """Why a TF edge is refused or a lookup fails."""

    MISSING_LINK = "tf_missing_link"  # unknown frame, or no path between two frames
    OUT_OF_RANGE = "tf_out_of_range"  # a stamp outside a time-varying edge's samples
    NEEDS_STAMP = "tf_needs_stamp"  # a time-varying edge looked up without a stamp
    BAD_EDGE = "tf_bad_edge"  # two parents, a cycle, a non-finite value


class TransformError(CountedError):
    """A TF edge is refused or a TF lookup fails; ``reason`` is a :class:`TransformReason`."""

    def __init__(self, reason: TransformReason, message: str) -> None:
        super().__init__(reason, message)


class InterfaceError(SealError):
    """A seal_msgs interface definition could not be found or loaded."""


class ConfigError(SealError):
    """A configuration file, parameter or command-line override is invalid."""


class TransportError(SealError):
    """A DDS entity could not be created or used (bad topic name, QoS, domain, type)."""


class NetworkPolicyError(SealError):
    """A participant would break the loopback rule (see :mod:`seal_ros.adapters.loopback`)."""


class EngineError(SealError):
    """An engine cannot be built or loaded (missing/corrupt model file, missing back end)."""


class TorchFileError(SealError):
    """A torch file is missing, unreadable, or refused: it needs arbitrary objects to unpickle."""


class DatasetError(SealError):
    """A dataset on disk is missing a file, a field or a calibration, or disagrees with itself."""


class BagError(DatasetError):
    """A ROS bag cannot be read, lacks a topic or TF link, has a malformed message, or an output
    bag cannot be written."""


class ExportError(SealError):
    """The network could not be exported, or the exported graph is not deployable."""


class TrainingError(SealError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""
