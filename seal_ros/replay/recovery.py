"""The readable head of a damaged MCAP file: the messages before a truncation, and what was lost.

A recorder that dies (power loss, full disk, ``kill -9``) leaves an MCAP file without its summary
and footer, often ending inside a record; ``rosbags`` needs the footer and refuses the whole file.
:class:`RecoveredMcap` walks the records from the start instead (the layout of the MCAP spec:
opcode u8, length u64, body) and stops at the first record that is cut off or not a record (a
zero-filled tail). Complete messages inside a chunk are kept: all of a compressed chunk's or none,
and, in an uncompressed chunk, every message before the cut. It offers the small part of
``rosbags.highlevel.AnyReader`` that :class:`~seal_ros.replay.bag.CloudBag` uses.
"""

from __future__ import annotations

import struct
from binascii import crc32
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from seal_ros.errors import BagError

__all__ = ["RecoveredConnection", "RecoveredMcap"]

MAGIC = b"\x89MCAP0\r\n"
HEADER, FOOTER, SCHEMA, CHANNEL, MESSAGE, CHUNK, DATA_END = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F
_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_MESSAGE_HEAD = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_CHUNK_HEAD = struct.Struct("<QQQI")  # start, end, uncompressed size, uncompressed crc


@dataclass(frozen=True, slots=True)
class RecoveredConnection:
    """One channel of the file, with the complete messages found on it."""

    id: int
    topic: str
    msgtype: str
    msgcount: int


class _Cut(Exception):
    """A record runs past the readable bytes (internal: ends the walk)."""


def _string(body: bytes | memoryview, at: int) -> tuple[str, int]:
    """A u32-length-prefixed UTF-8 string at ``at`` and the offset after it."""
    (n,) = _U32.unpack_from(body, at)
    end = at + 4 + n
    if end > len(body):
        raise _Cut
    return bytes(body[at + 4:end]).decode(), end


def _inner_records(data: bytes | memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """``(opcode, offset after the record, body)`` of the complete records in ``data``."""
    view, at = memoryview(data), 0
    while at + 9 <= len(view):
        op, (length,) = view[at], _U64.unpack_from(view, at + 1)
        if op == 0 or at + 9 + length > len(view):
            return
        yield op, at + 9 + length, view[at + 9:at + 9 + length]
        at += 9 + length


def _decompress(data: bytes | memoryview, compression: str, size: int) -> bytes:
    if compression == "":
        return bytes(data)
    if compression == "lz4":
        from lz4.frame import decompress as lz4_decompress  # rosbags' own dependency

        return bytes(lz4_decompress(bytes(data)))
    if compression == "zstd":
        from backports import zstd  # rosbags' own dependency on Python < 3.14

        return bytes(zstd.decompress(bytes(data)))
    raise BagError(f"chunk compression {compression!r} is not supported")


class RecoveredMcap:
    """The complete records of ``path`` up to its first damaged one.

    Attributes:
        size: bytes in the file.
        readable_bytes: where the last complete record used ends (``size`` when none is lost).
        damage: what is wrong at ``readable_bytes`` (None: the file is intact).
        connections: the channels, with the count of complete messages on each.
        start_time: log time (ns) of the earliest complete message.

    Raises:
        BagError: not an MCAP file of the ``ros2`` profile.
    """

    def __init__(self, path: str | Path, typestore: Any) -> None:
        self.path = Path(path)
        self.typestore = typestore
        self.size = self.path.stat().st_size
        self.readable_bytes = 0
        self.damage: str | None = None
        self._schemas: dict[int, str] = {}
        self._topics: dict[int, tuple[str, str]] = {}  # channel id -> (topic, msgtype)
        counts: Counter[int] = Counter()
        start = None
        for channel, log_time, _ in self._walk():
            counts[channel] += 1
            start = log_time if start is None else min(start, log_time)
        self.start_time = 0 if start is None else start
        self.connections = [RecoveredConnection(cid, topic, msgtype, counts[cid])
                            for cid, (topic, msgtype) in sorted(self._topics.items())]

    def messages(self, connections: Iterable[RecoveredConnection]
                 ) -> Iterator[tuple[RecoveredConnection, int, bytes]]:
        """``(connection, log time ns, raw CDR)`` in file order (time order inside a chunk)."""
        wanted = {c.id: c for c in connections}
        for channel, log_time, data in self._walk():
            if channel in wanted:
                yield wanted[channel], log_time, data

    def deserialize(self, raw: bytes, msgtype: str) -> Any:
        return self.typestore.deserialize_cdr(raw, msgtype)

    def close(self) -> None:
        """Nothing stays open between walks."""

    def lost(self) -> str:
        """One line for the report: where the file is damaged and how much of it is unread."""
        return (f"{self.path}: damaged MCAP: {self.damage}; read the first {self.readable_bytes} "
                f"of {self.size} bytes ({self.size - self.readable_bytes} bytes unread)")

    # ------------------------------------------------------------------------------ walk --

    def _walk(self) -> Iterator[tuple[int, int, bytes]]:
        """``(channel id, log time, data)`` of every complete message; sets the damage fields."""
        with self.path.open("rb") as f:
            if f.read(8) != MAGIC:
                raise BagError(f"{self.path}: not an MCAP file (no magic at its start)")
            self._check_header(f)
            at = f.tell()
            self.readable_bytes, self.damage = at, None
            while True:
                head = f.read(9)
                if len(head) < 9:
                    self._damaged(at, "the file ends without a footer" if not head else
                                  f"the record at byte {at} is cut off in its header")
                    return
                op, (length,) = head[0], _U64.unpack_from(head, 1)
                body_at = at + 9
                if op == 0:
                    self._damaged(at, f"no record at byte {at} (opcode 0: a zero-filled tail?)")
                    return
                if op == FOOTER:
                    if f.read(length) and f.read(8) == MAGIC:
                        self.readable_bytes = self.size
                        return
                    self._damaged(at, f"the footer at byte {at} is cut off")
                    return
                if body_at + length > self.size:
                    cut = (f"the record at byte {at} (opcode 0x{op:02x}, {length} bytes) is cut "
                           f"off after {self.size - body_at} bytes")
                    if op == CHUNK:  # an uncompressed chunk keeps the messages before the cut
                        yield from self._chunk(f.read(), body_at, partial=True)
                    self._damaged(self.readable_bytes if op == CHUNK else at, cut)
                    return
                if op in (SCHEMA, CHANNEL, MESSAGE, CHUNK):
                    body = f.read(length)
                    if op == CHUNK:
                        try:
                            yield from self._chunk(body, body_at, partial=False)
                        except BagError as err:
                            self._damaged(at, f"the chunk at byte {at} is corrupt: {err}")
                            return
                    else:
                        yield from self._record(op, memoryview(body))
                else:
                    f.seek(length, 1)
                at = body_at + length
                self.readable_bytes = at

    def _damaged(self, at: int, what: str) -> None:
        self.readable_bytes, self.damage = at, what

    def _check_header(self, f: BinaryIO) -> None:
        head = f.read(9)
        if len(head) < 9 or head[0] != HEADER:
            raise BagError(f"{self.path}: no MCAP header record after the magic")
        (length,) = _U64.unpack_from(head, 1)
        body = f.read(length)
        try:
            profile, _ = _string(body, 0)
        except (_Cut, struct.error, UnicodeDecodeError) as err:
            raise BagError(f"{self.path}: the MCAP header is cut off or garbled") from err
        if profile != "ros2":
            raise BagError(f"{self.path}: MCAP profile {profile!r}, expected 'ros2'")

    def _record(self, op: int, body: memoryview) -> Iterator[tuple[int, int, bytes]]:
        """A schema or channel is remembered; a message is yielded."""
        try:
            if op == MESSAGE:
                channel, _, log_time, _ = _MESSAGE_HEAD.unpack_from(body, 0)
                yield channel, log_time, bytes(body[_MESSAGE_HEAD.size:])
            elif op == SCHEMA:
                (sid,) = _U16.unpack_from(body, 0)
                self._schemas[sid], _ = _string(body, 2)
            elif op == CHANNEL:
                cid, sid = struct.unpack_from("<HH", body, 0)
                topic, _ = _string(body, 4)
                self._topics.setdefault(cid, (topic, self._schemas.get(sid, "")))
        except (_Cut, struct.error, UnicodeDecodeError):
            return  # a record garbled inside its own length: skipped, the walk goes on

    def _chunk(self, body: bytes, body_at: int, partial: bool
               ) -> Iterator[tuple[int, int, bytes]]:
        """The messages of one chunk by log time; ``partial``: cut off, uncompressed only."""
        view = memoryview(body)
        try:
            _, _, size, crc = _CHUNK_HEAD.unpack_from(view, 0)
            compression, at = _string(view, _CHUNK_HEAD.size)
            (stored,) = _U64.unpack_from(view, at)
        except (_Cut, struct.error, UnicodeDecodeError):
            return
        at += 8
        if partial:
            if compression:
                return  # a compressed chunk does not decompress without its end
            records = view[at:at + stored]
        else:
            records = memoryview(_decompress(view[at:at + stored], compression, size))
            if len(records) != size or (crc and crc32(records) != crc):
                raise BagError(f"{len(records)} bytes after decompression (expected {size}) "
                               f"or a checksum mismatch")
        messages: list[tuple[int, int, bytes]] = []
        for op, end, inner in _inner_records(records):
            messages += self._record(op, inner)
            if partial:  # the last complete inner record is where the readable bytes end
                self.readable_bytes = body_at + at + end
        messages.sort(key=lambda m: m[1])
        yield from messages
