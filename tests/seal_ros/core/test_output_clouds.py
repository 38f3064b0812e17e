"""The node's output clouds: Autoware's segmentation layout and RViz's packed rgb."""

from __future__ import annotations

import numpy as np
import pytest

from seal_ros.core.codec import FieldSpec, read_field
from seal_ros.core.output_clouds import encode_labelled, encode_rgb, pack_rgb, unpack_rgb
from seal_ros.errors import CodecError


def test_node_outputs() -> None:
    xyz = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    labelled = encode_labelled(xyz, np.array([3, 255]), np.array([0.5, 0.25]), stamp_ns=7,
                               frame_id="lidar")
    assert [(f.name, f.offset, f.datatype) for f in labelled.fields] == [
        ("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("class_id", 12, 2), ("probability", 13, 7)]
    assert labelled.point_step == 17 and labelled.stamp_ns == 7 and labelled.frame_id == "lidar"
    np.testing.assert_array_equal(read_field(labelled, "class_id"), [3, 255])
    with pytest.raises(CodecError, match="class_id spans 0..256"):
        encode_labelled(xyz, np.array([0, 256]), np.zeros(2))
    rgb = np.array([[255, 0, 16], [1, 2, 3]], dtype=np.uint8)
    vis = encode_rgb(xyz, rgb)
    assert vis.fields[3] == FieldSpec("rgb", 12, 7, 1)
    bits = read_field(vis, "rgb").view(np.uint32)
    np.testing.assert_array_equal(bits, [0xFF0010, 0x010203])
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(rgb)), rgb)
