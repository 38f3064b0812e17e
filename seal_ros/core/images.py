"""Camera messages to arrays: one decoder for the node's overlays and the bag reader.

``sensor_msgs/Image`` in the 8-bit encodings of :data:`IMAGE_CHANNELS` decodes with numpy alone;
``sensor_msgs/CompressedImage`` needs OpenCV, imported only when such a message comes (the vehicle
install has no OpenCV). Errors start with the caller's ``where`` (topic, stamp) and say what was
expected.
"""

from __future__ import annotations

import array
from typing import Any

import numpy as np

from seal_ros.errors import ImageError

__all__ = ["IMAGE_CHANNELS", "MASK_ENCODINGS", "decode_image", "decode_mask"]

IMAGE_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
"""Raw ``sensor_msgs/Image`` encodings that decode to RGB, with their channel counts."""
MASK_ENCODINGS = ("mono16", "16UC1")
"""Encodings of a uint16 instance mask (the synthetic drive's oracle)."""


def _bytes(data: Any) -> np.ndarray:
    """(B,) uint8 view of a message's ``data`` (numpy array, bytes, array.array or list)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8).reshape(-1)


def _rows(data: np.ndarray, height: int, width: int, step: int, channel_bytes: int, where: str,
          what: str) -> np.ndarray:
    """(H, W * channel_bytes) uint8 pixel bytes, padding at each row's end dropped."""
    if step < width * channel_bytes or data.size < height * step:
        raise ImageError(f"{where}: {data.size} bytes, step {step} for {width}x{height} {what}; "
                         f"expected step >= {width * channel_bytes} and {height * step} bytes")
    return data[:height * step].reshape(height, step)[:, :width * channel_bytes]


def _decode_compressed(msg: Any, data: np.ndarray, where: str) -> np.ndarray:
    try:
        import cv2
    except ImportError as err:
        raise ImageError(f"{where}: a CompressedImage needs OpenCV (pip install "
                         f"opencv-python-headless); send raw sensor_msgs/Image instead") from err
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"{where}: cannot decode {getattr(msg, 'format', '?')!r} compressed "
                         f"image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def decode_image(msg: Any, where: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of a ``sensor_msgs/Image`` (:data:`IMAGE_CHANNELS` encodings) or
    a ``sensor_msgs/CompressedImage`` (anything ``cv2.imdecode`` reads).

    Raises:
        ImageError: (a ``ValueError``) an unsupported encoding, a short buffer or an undecodable
            compressed image; the message starts with ``where``.
    """
    data = _bytes(msg.data)
    if not hasattr(msg, "encoding"):  # CompressedImage
        return _decode_compressed(msg, data, where)
    encoding = str(msg.encoding)
    channels = IMAGE_CHANNELS.get(encoding)
    if channels is None:
        raise ImageError(f"{where}: encoding {encoding!r}; supported are "
                         f"{', '.join(IMAGE_CHANNELS)} and CompressedImage")
    h, w = int(msg.height), int(msg.width)
    rows = _rows(data, h, w, int(msg.step), channels, where, encoding)
    pixels = rows.reshape(h, w, channels)
    if encoding == "mono8":
        return np.repeat(pixels, 3, axis=2)
    if encoding.startswith("bgr"):
        return pixels[:, :, 2::-1].copy()
    return pixels[:, :, :3].copy()  # a copy even when the bytes are already RGB: callers paint


def decode_mask(msg: Any, where: str) -> np.ndarray:
    """(H, W) uint16 of a :data:`MASK_ENCODINGS` ``sensor_msgs/Image`` (either byte order).

    Raises:
        ImageError: (a ``ValueError``) another encoding or a short buffer; the message starts
            with ``where``.
    """
    if msg.encoding not in MASK_ENCODINGS:
        raise ImageError(f"{where}: instance mask encoding {msg.encoding!r}; expected "
                         f"{' or '.join(MASK_ENCODINGS)}")
    h, w = int(msg.height), int(msg.width)
    rows = _rows(_bytes(msg.data), h, w, int(msg.step), 2, where, "mono16 mask")
    dtype = ">u2" if msg.is_bigendian else "<u2"
    return np.ascontiguousarray(rows).view(dtype).astype(np.uint16)
