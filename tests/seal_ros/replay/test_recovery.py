"""A damaged MCAP file is read up to the damage: every complete message before a cut (inside an
uncompressed chunk too), whole compressed chunks, a zero-filled tail; the numbers of what is lost
checked against the intact file (payload offsets, rosbags' own chunk index)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapReader

from seal_ros.errors import BagError
from seal_ros.replay.bag import CloudBag
from seal_ros.replay.recovery import RecoveredMcap

TOPIC, PC2 = "/lidar_top/points", "sensor_msgs/msg/PointCloud2"
T0 = 1_700_000_000_000_000_000


def write_clouds(h, folder: Path, count: int = 8, zstd: bool = False) -> list[bytes]:
    """``count`` clouds of 20000 points (360 kB: rosbags closes a chunk past 1 MiB, so about
    three per chunk) and a tiny cloud on a second topic after each; the serialized clouds."""
    raws = []
    writer = Writer(folder, version=9, storage_plugin=StoragePlugin.MCAP)
    if zstd:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        conn = writer.add_connection(TOPIC, PC2, typestore=h.STORE)
        other = writer.add_connection("/tiny", PC2, typestore=h.STORE)
        for i in range(count):
            stamp = T0 + i * 100_000_000
            raws.append(bytes(h.STORE.serialize_cdr(
                h.cloud_message(h.random_scan(20_000, i), stamp_ns=stamp), PC2)))
            writer.write(conn, stamp, raws[-1])
            writer.write(other, stamp + 1, bytes(h.STORE.serialize_cdr(
                h.cloud_message(h.random_scan(10, i), stamp_ns=stamp), PC2)))
    return raws


def truncate(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)


def test_a_truncated_file_yields_every_message_before_the_cut(h, tmp_path):
    raws = write_clouds(h, tmp_path / "bag")
    mcap = tmp_path / "bag" / "bag.mcap"
    data = mcap.read_bytes()
    ends = [data.index(raw) + len(raw) for raw in raws]  # where each cloud's record ends
    assert sorted(ends) == ends
    cut = (ends[4] + ends[5]) // 2  # inside the 6th cloud (mid-chunk: uncompressed)
    truncate(mcap, cut)
    with pytest.raises(AnyReaderError, match="magic"):  # what rosbags alone does
        AnyReader([tmp_path / "bag"]).open()

    r = RecoveredMcap(mcap, h.STORE)
    clouds = next(c for c in r.connections if c.topic == TOPIC)
    got = list(r.messages([clouds]))
    assert [raw for _, _, raw in got] == raws[:5]
    assert [t for _, t, _ in got] == [T0 + i * 100_000_000 for i in range(5)]
    assert clouds.msgcount == 5 and r.start_time == T0
    tiny_conn = next(c for c in r.connections if c.topic == "/tiny")
    assert tiny_conn.msgcount == 5  # the 5th tiny message follows the 5th cloud, before the cut
    # the readable part ends with the last complete record: the 5th tiny message
    tiny = bytes(h.STORE.serialize_cdr(
        h.cloud_message(h.random_scan(10, 4), stamp_ns=T0 + 4 * 100_000_000), PC2))
    assert r.readable_bytes == data.index(tiny, ends[4]) + len(tiny)
    assert r.readable_bytes < ends[5] - len(raws[5]) and r.size == cut
    assert "is cut off after" in r.damage
    assert r.lost() == (f"{mcap}: damaged MCAP: {r.damage}; read the first {r.readable_bytes} "
                        f"of {cut} bytes ({cut - r.readable_bytes} bytes unread)")
    assert h.STORE.deserialize_cdr(got[4][2], PC2).width == 20_000

    bag = CloudBag(tmp_path / "bag", TOPIC, h.STORE)  # the replay's reader falls back to it
    assert len(bag) == 5 and bag.start_ns == T0
    assert bag.recovery == (f"{r.lost()}; 5 complete messages on {TOPIC} of the 8 that "
                            f"metadata.yaml lists (3 lost)")
    assert [m.header.stamp.nanosec for _, m in bag.clouds()] == [i * 100_000_000
                                                                 for i in range(5)]
    bag.close()


def test_a_compressed_chunk_cut_off_is_lost_whole_and_earlier_chunks_are_kept(h, tmp_path):
    raws = write_clouds(h, tmp_path / "bag", zstd=True)
    index = McapReader(tmp_path / "bag" / "bag.mcap")  # rosbags' own index of the intact file
    index.open()
    chunks = [(c.chunk_start_offset, sum(c.channel_count.values())) for c in index.chunks]
    assert len(chunks) >= 3 and all(c.compression == "zstd" for c in index.chunks)
    index.close()
    cut = chunks[2][0] + 100  # 100 bytes into the third chunk
    truncate(tmp_path / "bag" / "bag.mcap", cut)
    r = RecoveredMcap(tmp_path / "bag" / "bag.mcap", h.STORE)
    assert r.readable_bytes == chunks[2][0] and r.size == cut
    assert sum(c.msgcount for c in r.connections) == chunks[0][1] + chunks[1][1]
    clouds = next(c for c in r.connections if c.topic == TOPIC)
    assert [raw for _, _, raw in r.messages([clouds])] == raws[:clouds.msgcount]


def test_a_zero_filled_tail_and_a_lost_summary(h, tmp_path):
    raws = write_clouds(h, tmp_path / "bag", count=4)
    mcap = tmp_path / "bag" / "bag.mcap"
    data = mcap.read_bytes()
    # a lost summary (the cut after the data section): every message is there
    data_end = data.rindex(b"\x0f\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    mcap.write_bytes(data[:data_end + 20])
    r = RecoveredMcap(mcap, h.STORE)
    assert [c.msgcount for c in r.connections] == [4, 4] and r.damage is not None
    # a preallocated file whose tail stayed zero: stops at the zeros, none of them is a record
    end3 = data.index(raws[2]) + len(raws[2])
    mcap.write_bytes(data[:end3 + 64] + bytes(len(data) - end3 - 64))
    r = RecoveredMcap(mcap, h.STORE)
    clouds = next(c for c in r.connections if c.topic == TOPIC)
    assert clouds.msgcount == 3 and "opcode 0" in r.damage
    assert [raw for _, _, raw in r.messages([clouds])] == raws[:3]
    # intact: no damage; not MCAP: refused
    mcap.write_bytes(data)
    assert RecoveredMcap(mcap, h.STORE).damage is None
    mcap.write_bytes(b"#ROSBAG V2.0\n" + bytes(100))
    with pytest.raises(BagError, match="not an MCAP file"):
        RecoveredMcap(mcap, h.STORE)
