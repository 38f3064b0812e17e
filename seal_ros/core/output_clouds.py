"""The node's output cloud layouts, as Autoware's segmentation nodes publish them.

:func:`encode_labelled`: ``x, y, z`` float32, ``class_id`` uint8, ``probability`` float32 (17 bytes
a point, the ``segmentation`` topic). :func:`encode_rgb`: ``x, y, z, rgb`` with the colour packed
RViz-style as float32 ``0x00RRGGBB`` (the ``visualization`` topic). Both return the codec's
middleware-free :class:`~seal_ros.core.codec.CloudData`.
"""

from __future__ import annotations

import numpy as np

from seal_ros.core.codec import CloudData, encode
from seal_ros.errors import CodecError, CodecReason

__all__ = ["encode_labelled", "encode_rgb", "pack_rgb", "unpack_rgb"]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB -> (N,) float32 whose bits are ``0x00RRGGBB`` (RViz's ``rgb`` field)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 2 or rgb.shape[1] != 3:
        raise CodecError(CodecReason.BAD_VALUES,
                         f"rgb has shape {rgb.shape}; expected (N, 3) uint8")
    rgb = rgb.astype(np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    return packed.astype(np.uint32).view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """(N,) float32 ``0x00RRGGBB`` -> (N, 3) uint8 RGB."""
    bits = np.ascontiguousarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 0xFF, (bits >> 8) & 0xFF, bits & 0xFF], axis=1).astype(np.uint8)


def _xyz(xyz: np.ndarray) -> np.ndarray:
    xyz = np.asarray(xyz)
    if xyz.ndim != 2 or xyz.shape[1] < 3:
        raise CodecError(CodecReason.BAD_VALUES, f"xyz has shape {xyz.shape}; expected (N, 3)")
    return xyz[:, :3].astype(np.float32, copy=False)


def encode_labelled(xyz: np.ndarray, class_id: np.ndarray, probability: np.ndarray, *,
                    stamp_ns: int = 0, frame_id: str = "") -> CloudData:
    """Segmentation output: ``x, y, z`` f32, ``class_id`` uint8, ``probability`` f32 (17 B)."""
    xyz = _xyz(xyz)
    class_id = np.asarray(class_id)
    if class_id.size and (class_id.min() < 0 or class_id.max() > 255):
        raise CodecError(CodecReason.BAD_VALUES,
                         f"class_id spans {class_id.min()}..{class_id.max()}; expected 0..255 "
                         f"(uint8)")
    return encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                   "class_id": class_id.astype(np.uint8),
                   "probability": np.asarray(probability, dtype=np.float32)},
                  stamp_ns=stamp_ns, frame_id=frame_id)


def encode_rgb(xyz: np.ndarray, rgb: np.ndarray, *, stamp_ns: int = 0,
               frame_id: str = "") -> CloudData:
    """Visualisation output: ``x, y, z`` float32 and ``rgb`` float32-packed ``0x00RRGGBB``."""
    xyz = _xyz(xyz)
    return encode({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "rgb": pack_rgb(rgb)},
                  stamp_ns=stamp_ns, frame_id=frame_id)
