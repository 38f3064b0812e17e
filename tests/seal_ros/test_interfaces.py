"""seal_msgs load from their .msg files into rosbags and survive CDR and a bag round trip."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from seal_ros import interfaces
from seal_ros.errors import InterfaceError


def _timing(store):
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    Timing = store.types["seal_msgs/msg/SegmentationTiming"]
    return Timing(
        header=Header(stamp=Time(sec=12, nanosec=345), frame_id="lidar_top"),
        stage_names=["decode", "voxelize", "inference"],
        stage_ms=np.array([0.5, 12.25, 40.0], dtype=np.float32),
        total_ms=np.float32(52.75), num_points=120_000, num_voxels=61_234, dropped_messages=7)


def test_definitions_match_msg_files():
    defs = interfaces.definitions()
    assert set(defs) == {"seal_msgs/msg/SegmentationInfo", "seal_msgs/msg/SegmentationTiming"}
    assert "string[] class_names" in defs["seal_msgs/msg/SegmentationInfo"]
    assert "uint64 dropped_messages" in defs["seal_msgs/msg/SegmentationTiming"]


def test_cdr_round_trip_and_field_layout():
    store = interfaces.typestore()
    msg = _timing(store)
    raw = store.serialize_cdr(msg, "seal_msgs/msg/SegmentationTiming")
    back = store.deserialize_cdr(raw, "seal_msgs/msg/SegmentationTiming")
    assert back.stage_names == ["decode", "voxelize", "inference"]
    np.testing.assert_array_equal(back.stage_ms, msg.stage_ms)
    assert (back.num_points, back.num_voxels, back.dropped_messages) == (120_000, 61_234, 7)
    assert back.header.frame_id == "lidar_top" and back.header.stamp.nanosec == 345
    # Registering twice is harmless.
    interfaces.register(store)


def test_info_in_bag_round_trip(tmp_path):
    store = interfaces.typestore()
    Info = store.types["seal_msgs/msg/SegmentationInfo"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    info = Info(header=Header(stamp=Time(sec=1, nanosec=0), frame_id=""), model_id="seal-test",
                class_names=["ignore", "car", "road"],
                palette=np.array([0, 0, 0, 255, 0, 0, 0, 255, 0], dtype=np.uint8), ignore_id=0)
    bag = tmp_path / "bag"
    with Writer(bag, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/seal/info", "seal_msgs/msg/SegmentationInfo",
                                     typestore=store)
        writer.write(conn, 1_000_000_000, store.serialize_cdr(info, conn.msgtype))
    # A reader with a plain typestore learns the type from the definition stored in the bag.
    from rosbags.typesys import Stores, get_typestore
    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
        (conn,) = reader.connections
        (_, stamp, raw), = list(reader.messages())
        back = reader.deserialize(raw, conn.msgtype)
    assert stamp == 1_000_000_000
    assert back.class_names == ["ignore", "car", "road"]
    np.testing.assert_array_equal(back.palette, info.palette)


def test_unknown_distro_is_a_clear_error():
    with pytest.raises(InterfaceError, match="unknown ROS distribution 'ROS9'"):
        interfaces.typestore("ROS9")
