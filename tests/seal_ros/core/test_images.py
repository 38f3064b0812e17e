"""Image and instance-mask messages decode to RGB / uint16 alike for the node and the bag reader."""

from __future__ import annotations

import array
from types import SimpleNamespace

import numpy as np
import pytest

from seal_ros.core.images import decode_image, decode_mask
from seal_ros.errors import CodecError, ImageError


def test_raw_encodings_and_buffer_kinds():
    data = np.arange(24, dtype=np.uint8)
    for kind in (data, data.tobytes(), array.array("B", data.tobytes()), data.tolist()):
        img = SimpleNamespace(height=2, width=3, step=12, encoding="bgra8", data=kind)
        rgb = decode_image(img, "cam")
        assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
        assert rgb[0, 0].tolist() == [2, 1, 0] and rgb[1, 2].tolist() == [22, 21, 20]
    rgba = SimpleNamespace(height=2, width=3, step=12, encoding="rgba8", data=data)
    assert decode_image(rgba, "cam")[0, 1].tolist() == [4, 5, 6]


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "mono8"])
def test_decoded_image_is_a_writable_copy_of_read_only_bytes(encoding):
    """rclpy hands over immutable bytes; the overlay paints into what decode_image returns."""
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "mono8": 1}[encoding]
    data = bytes(range(2 * 3 * channels))
    img = SimpleNamespace(height=2, width=3, step=3 * channels, encoding=encoding,
                          data=np.frombuffer(data, dtype=np.uint8))
    rgb = decode_image(img, "cam")
    assert rgb.flags.writeable and rgb.flags.c_contiguous
    rgb[:] = 0
    assert data == bytes(range(2 * 3 * channels))


def test_errors_name_the_source_and_stay_value_errors():
    img = SimpleNamespace(height=2, width=3, step=12, encoding="16UC1",
                          data=np.zeros(24, np.uint8))
    with pytest.raises(ImageError, match="camera front: encoding '16UC1'; supported are rgb8"):
        decode_image(img, "camera front")
    assert issubclass(ImageError, ValueError) and issubclass(ImageError, CodecError)
    short = SimpleNamespace(height=2, width=3, step=9, encoding="rgb8", data=np.zeros(10, np.uint8))
    with pytest.raises(ValueError, match="cam: 10 bytes, step 9 for 3x2 rgb8; expected step >= 9 "
                                         "and 18 bytes"):
        decode_image(short, "cam")


def test_mask_in_either_byte_order():
    mask = np.array([[1, 513, 65535], [0, 7, 256]], dtype=np.uint16)
    for big in (False, True):
        raw = mask.astype(">u2" if big else "<u2").tobytes()
        msg = SimpleNamespace(height=2, width=3, step=6, encoding="mono16", is_bigendian=int(big),
                              data=np.frombuffer(raw, np.uint8))
        got = decode_mask(msg, "mask")
        assert got.dtype == np.uint16
        np.testing.assert_array_equal(got, mask)
    msg.encoding = "mono8"
    with pytest.raises(ImageError, match="mask: instance mask encoding 'mono8'; expected mono16"):
        decode_mask(msg, "mask")
