"""From spconv MinkUNet weights to folded gather-GEMM weights: checkpoint parsing, BN folding.

Keys expected (those of :class:`seal_ros.core.minkunet.MinkUNet`):

    stem.0.weight (C0, k, k, k, C_in), stem.1.* BatchNorm1d
    down.{l}.0.weight (C, 2, 2, 2, C), down.{l}.1.*                            l = 0..3
    encoder.{l}.{b}.conv1.weight / bn1.* / conv2.weight / bn2.* / downsample.0.weight /
        downsample.1.*
    up.{s}.0.weight, up.{s}.1.*; decoder.{s}.{b}.*                             s = 0..3
    head.weight (K, C), head.bias (K,)                                         optional

A Seal checkpoint ``{"model": {...}}`` holds the backbone under ``backbone.`` (pretraining also
stores ``point_head.*`` and ``teacher.*``, which are not part of the segmentation network and are
ignored). A segmentation head is taken from ``backbone.head.*`` or, when the backbone has none, from
a top-level ``head.*`` / ``seg_head.*`` Linear of the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from seal_ros.core.kernel_maps import NUM_LEVELS
from seal_ros.errors import SealError

__all__ = [
    "MinkUNetSpec", "fold_bn", "fold_bn_1x1", "infer_spec", "spconv_state_from_checkpoint",
]

HEAD_PREFIXES = ("head.", "seg_head.")


@dataclass(frozen=True, slots=True)
class MinkUNetSpec:
    """Hyperparameters of a MinkUNet, as ``build_minkunet`` takes them (width already applied)."""

    in_channels: int
    out_channels: int | None
    layers: tuple[int, ...]
    planes: tuple[int, ...]
    init_dim: int
    stem_kernel: int


def spconv_state_from_checkpoint(obj: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The spconv MinkUNet state dict (with ``head.*`` if a segmentation head exists).

    Args:
        obj: a raw MinkUNet state dict, or a Seal checkpoint with a ``"model"`` state dict whose
            backbone keys start with ``backbone.``.

    Raises:
        SealError: when no MinkUNet weights are found.
    """
    state = obj.get("model", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping):
        raise SealError("checkpoint: expected a state dict or a dict with a 'model' state dict")
    if any(k.startswith("backbone.") for k in state):
        out = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        if "head.weight" not in out:
            for prefix in HEAD_PREFIXES:
                if f"{prefix}weight" in state:
                    out["head.weight"] = state[f"{prefix}weight"]
                    out["head.bias"] = state[f"{prefix}bias"]
                    break
    else:
        out = dict(state)
    if "stem.0.weight" not in out:
        raise SealError("checkpoint: no MinkUNet weights (expected 'stem.0.weight' or "
                        "'backbone.stem.0.weight')")
    return {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}


def _blocks(state: Mapping[str, torch.Tensor], stage: str) -> int:
    pattern = re.compile(rf"^{stage}\.(\d+)\.conv1\.weight$")
    return len([k for k in state if pattern.match(k)])


def infer_spec(state: Mapping[str, torch.Tensor]) -> MinkUNetSpec:
    """Hyperparameters from weight shapes (spconv weights are ``[out, kD, kH, kW, in]``)."""
    try:
        stem = state["stem.0.weight"]
        layers, planes = [], []
        for part in ("encoder", "decoder"):
            for index in range(NUM_LEVELS):
                blocks = _blocks(state, f"{part}.{index}")
                if blocks == 0:
                    raise KeyError(f"{part}.{index}.0.conv1.weight")
                layers.append(blocks)
                planes.append(int(state[f"{part}.{index}.0.conv1.weight"].shape[0]))
    except KeyError as err:
        raise SealError(f"MinkUNet state dict: missing {err}") from err
    head = state.get("head.weight")
    return MinkUNetSpec(
        in_channels=int(stem.shape[-1]),
        out_channels=None if head is None else int(head.shape[0]),
        layers=tuple(layers),
        planes=tuple(planes),
        init_dim=int(stem.shape[0]),
        stem_kernel=int(stem.shape[1]),
    )


def fold_bn(
    weight: torch.Tensor, state: Mapping[str, torch.Tensor], bn: str, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm1d into the conv before it.

    Args:
        weight: spconv weight ``[out, kD, kH, kW, in]``.
        state: the state dict holding ``{bn}.weight/bias/running_mean/running_var``.
        bn: key prefix of the BatchNorm.
        eps: BatchNorm epsilon (torch's and MinkowskiEngine's default 1e-5; not in state dicts).

    Returns:
        (K, in, out) float32 per-offset matrices (offset order of spconv's flattened kernel) and
        the (out,) bias: ``BN(conv(x)) = sum_k x_k @ W[k] + b``.
    """
    C_out, C_in = weight.shape[0], weight.shape[-1]
    gamma, beta = state[f"{bn}.weight"].double(), state[f"{bn}.bias"].double()
    mean, var = state[f"{bn}.running_mean"].double(), state[f"{bn}.running_var"].double()
    scale = gamma / torch.sqrt(var + eps)  # (out,)
    w = weight.double().reshape(C_out, -1, C_in).permute(1, 2, 0)  # (K, in, out)
    w = w * scale
    b = beta - mean * scale
    return w.float().contiguous(), b.float()


def fold_bn_1x1(
    weight: torch.Tensor, state: Mapping[str, torch.Tensor], bn: str, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold BatchNorm into a spconv 1x1x1 conv, read the way spconv reads it.

    spconv 2.3 computes a k=1 conv as ``features @ weight.view(in, out)`` (``conv.py``,
    ``FILTER_HWIO = False``): the ``[out, 1, 1, 1, in]`` buffer is reinterpreted, not transposed.
    Trained weights mean what that product makes of them, so the same view is used here.

    Returns:
        (in, out) float32 matrix and (out,) bias.
    """
    C_out, C_in = weight.shape[0], weight.shape[-1]
    matrix = weight.reshape(1, 1, 1, 1, C_in * C_out).reshape(C_in, C_out)  # spconv's view
    as_kernel = matrix.t().reshape(C_out, 1, 1, 1, C_in)
    w, b = fold_bn(as_kernel, state, bn, eps)
    return w[0], b
