"""Exception tree shared by the runtime and the offline tools.

Callers catch :class:`SealError`; each subclass names the layer that raised it. Messages name
the file, topic or field at fault and what was expected.
"""

from __future__ import annotations


class SealError(Exception):
    """Base of every error Seal raises on purpose (bugs raise anything else)."""


class CodecError(SealError):
    """A PointCloud2 (or other message) does not match its declared layout."""


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


class InputError(SealError):
    """An input message the node cannot process; it is skipped and counted under ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
