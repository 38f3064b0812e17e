"""MinkUNet on spconv: MinkowskiEngine's Res16UNet (SLidR's "MinkUNet-34") rebuilt layer for layer.

Topology (origin: MinkowskiEngine ``examples/res16unet.py`` ``Res16UNetBase``, SLidR
``model/res16unet.py``; method.md 2.1):

    stem      SubM 3x3x3 in -> init_dim, BN, ReLU                                 (stride 1)
    level l   Conv 2x2x2 stride 2 (indice_key "down{l}"), BN, ReLU, layers[l-1] BasicBlocks
              -> planes[l-1]                                                       l = 1..4
    up l      InverseConv 2x2x2 (same indice_key as the matching down conv), BN, ReLU,
              concat the encoder output of that resolution, layers[4 + l - 1] BasicBlocks
    head      1x1x1 conv (with bias) -> out_channels, or none (features of planes[7] channels)

The stem is 3x3x3 because SLidR's config sets ``kernel_size: 3`` for ``conv0p1s1``
(MinkowskiEngine's own default is 5). Down/up convs use kernel 2, stride 2, as ``conv1p1s2`` /
``convtr4p16s2`` in Res16UNet. BatchNorm momentum: MinkowskiEngine's ``MinkowskiBatchNorm`` wraps
``torch.nn.BatchNorm1d(momentum=...)`` unchanged, so SLidR's ``bn_momentum: 0.05`` is torch's
momentum 0.05 (running = 0.95 running + 0.05 batch). BN eps is torch's default 1e-5 as in ME.

Sub-manifold convs of one resolution share an ``indice_key`` ("subm{l}") so their kernel map is
built once per forward pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import spconv.pytorch as spconv
import torch
from spconv.core import ConvAlgo
from spconv.pytorch.conv import SparseConvolution
from torch import nn

from seal_ros.core.kernel_maps import NUM_LEVELS, grid_shape
from seal_ros.core.spconv_patch import apply_spconv_cpu_fixes
from seal_ros.core.voxelize import SparseBatch

apply_spconv_cpu_fixes()  # before any network runs: spconv's CPU build is wrong without it


class _NoFxTracingNotice(logging.Filter):
    """Drops torch.fx's one-time "is_fx_tracing will return true ..." warning.

    spconv's ``SparseConvTensor`` has torch.fx's ``ProxyableClassMeta``, whose constructor asks
    the deprecated ``is_fx_tracing()``; torch then logs that notice at the first forward of every
    process (pretraining, probing, the node). It is about fx tracing, which nothing here does.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "is_fx_tracing will return true" not in record.getMessage()


logging.getLogger("torch.fx._symbolic_trace").addFilter(_NoFxTracingNotice())

__all__ = [
    "BACKBONES",
    "BasicBlock",
    "MinkUNet",
    "build_minkunet",
    "build_minkunet18",
    "build_minkunet34",
]



def _bn(channels: int, momentum: float) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(channels, momentum=momentum)


class BasicBlock(spconv.SparseModule):
    """ResNet basic block of sub-manifold 3x3x3 convs: conv-BN-ReLU-conv-BN (+ skip) -ReLU.

    The skip is a 1x1x1 conv + BN when the channel count changes (ME ``_make_layer``).
    """

    def __init__(self, in_channels: int, out_channels: int, indice_key: str, bn_momentum: float):
        super().__init__()
        self.conv1 = spconv.SubMConv3d(
            in_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key
        )
        self.bn1 = _bn(out_channels, bn_momentum)
        self.conv2 = spconv.SubMConv3d(
            out_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key
        )
        self.bn2 = _bn(out_channels, bn_momentum)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if in_channels != out_channels:
            self.downsample = spconv.SparseSequential(
                spconv.SubMConv3d(in_channels, out_channels, 1, bias=False),
                _bn(out_channels, bn_momentum),
            )

    def forward(self, x: spconv.SparseConvTensor) -> spconv.SparseConvTensor:
        identity = x.features if self.downsample is None else self.downsample(x).features
        out = self.conv1(x)
        out = out.replace_feature(self.relu(self.bn1(out.features)))
        out = self.conv2(out)
        out = out.replace_feature(self.relu(self.bn2(out.features) + identity))
        return out


def _stage(
    in_channels: int, out_channels: int, blocks: int, indice_key: str, bn_momentum: float
) -> spconv.SparseSequential:
    layers = [BasicBlock(in_channels, out_channels, indice_key, bn_momentum)]
    layers += [
        BasicBlock(out_channels, out_channels, indice_key, bn_momentum) for _ in range(blocks - 1)
    ]
    return spconv.SparseSequential(*layers)


class MinkUNet(nn.Module):
    """U-Net of residual sparse conv blocks over a voxelised batch; returns per-point features.

    Args:
        in_channels: input feature channels per voxel (SLidR: 1, intensity).
        out_channels: channels of the final 1x1x1 head; None returns the decoder's last features
            (``planes[7]`` channels, 96 for MinkUNet34/18 at width 1).
        layers: (8,) BasicBlocks per stage: 4 encoder then 4 decoder stages.
        planes: (8,) output channels per stage.
        init_dim: channels of the stem.
        stem_kernel: stem kernel size (3 as SLidR; MinkowskiEngine's default is 5).
        bn_momentum: torch BatchNorm momentum (SLidR 0.05, same convention as ME).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None,
        layers: Sequence[int],
        planes: Sequence[int],
        init_dim: int,
        stem_kernel: int,
        bn_momentum: float,
    ):
        super().__init__()
        if len(layers) != 2 * NUM_LEVELS or len(planes) != 2 * NUM_LEVELS:
            raise ValueError(f"layers and planes need {2 * NUM_LEVELS} entries, got "
                             f"{len(layers)} and {len(planes)}")
        if stem_kernel % 2 != 1:
            raise ValueError(f"stem_kernel must be odd, got {stem_kernel}")
        self.in_channels = in_channels
        self.out_channels = out_channels if out_channels is not None else planes[-1]
        self.stem = spconv.SparseSequential(
            spconv.SubMConv3d(in_channels, init_dim, stem_kernel, padding=stem_kernel // 2,
                              bias=False, indice_key="stem"),
            _bn(init_dim, bn_momentum),
            nn.ReLU(inplace=True),
        )
        self.down = nn.ModuleList()
        self.encoder = nn.ModuleList()
        skip_channels = [init_dim]  # channels of the encoder output at stride 1, 2, 4, 8
        channels = init_dim
        for level in range(1, NUM_LEVELS + 1):
            self.down.append(spconv.SparseSequential(
                spconv.SparseConv3d(channels, channels, 2, stride=2, bias=False,
                                    indice_key=f"down{level}"),
                _bn(channels, bn_momentum),
                nn.ReLU(inplace=True),
            ))
            self.encoder.append(
                _stage(channels, planes[level - 1], layers[level - 1], f"subm{level}", bn_momentum)
            )
            channels = planes[level - 1]
            skip_channels.append(channels)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for step in range(NUM_LEVELS):  # from stride 16 back to stride 1
            level = NUM_LEVELS - step  # indice key of the down conv being inverted
            up_channels = planes[NUM_LEVELS + step]
            self.up.append(spconv.SparseSequential(
                spconv.SparseInverseConv3d(channels, up_channels, 2, indice_key=f"down{level}",
                                           bias=False),
                _bn(up_channels, bn_momentum),
                nn.ReLU(inplace=True),
            ))
            self.decoder.append(_stage(
                up_channels + skip_channels[level - 1], up_channels, layers[NUM_LEVELS + step],
                f"subm{level - 1}", bn_momentum,
            ))
            channels = up_channels
        self.head: nn.Module | None = None
        if out_channels is not None:
            self.head = nn.Linear(channels, out_channels)  # = 1x1x1 conv with bias
        self._convs = [m for m in self.modules() if isinstance(m, SparseConvolution)]
        self._default_algos = [m.algo for m in self._convs]

    def _match_conv_algo(self, device: torch.device) -> None:
        """Native algorithm for host tensors, spconv's own choice on CUDA.

        spconv's CUDA builds default every conv to implicit GEMM, which refuses host tensors
        ("implicit gemm only support cuda"): a CPU forward on a machine with the CUDA build would
        fail. Weights are KRSC for every algorithm, so switching changes no parameter.
        """
        for conv, default in zip(self._convs, self._default_algos, strict=True):
            conv.algo = default if device.type == "cuda" else ConvAlgo.Native

    def forward_voxels(self, batch: SparseBatch) -> torch.Tensor:
        """Per-voxel features (M, out_channels), rows in ``batch.coords`` order."""
        # a multiple of 2**levels cells per axis: every stride-2 conv halves the grid exactly, so
        # no voxel at an odd edge loses its parent (padding the grid changes no other output)
        spatial_shape = list(grid_shape(batch.spatial_shape, NUM_LEVELS))
        self._match_conv_algo(batch.features.device)
        x = spconv.SparseConvTensor(
            batch.features, batch.coords, spatial_shape, batch.batch_size
        )
        x = self.stem(x)
        skips = [x]
        for down, stage in zip(self.down, self.encoder, strict=True):
            x = stage(down(x))
            skips.append(x)
        skips.pop()  # the stride-16 output is x itself
        for up, stage in zip(self.up, self.decoder, strict=True):
            x = up(x)
            skip = skips.pop()
            # the inverse conv returns the skip's coordinates in the skip's row order
            x = x.replace_feature(torch.cat([x.features, skip.features], dim=1))
            x = stage(x)
        features = x.features  # (M, planes[7])
        if self.head is not None:
            features = self.head(features)  # (M, out_channels)
        return features

    def forward(self, batch: SparseBatch) -> torch.Tensor:
        """Per-point features (N, out_channels): voxel outputs taken through ``batch.inverse``."""
        return self.forward_voxels(batch)[batch.inverse]


def build_minkunet(
    *,
    in_channels: int,
    out_channels: int | None,
    layers: Sequence[int],
    planes: Sequence[int] = (32, 64, 128, 256, 256, 128, 96, 96),
    init_dim: int = 32,
    stem_kernel: int = 3,
    width: float = 1.0,
    bn_momentum: float = 0.05,
) -> MinkUNet:
    """Build a MinkUNet; the one place that owns its hyperparameters.

    Args:
        in_channels: input channels per voxel.
        out_channels: head channels, or None for the raw ``planes[7] * width`` features.
        layers: (8,) BasicBlocks per stage.
        planes: (8,) channels per stage at width 1 (Res16UNet "C" widths by default).
        init_dim: stem channels at width 1.
        stem_kernel: stem kernel size (SLidR 3).
        width: channel multiplier applied to ``planes`` and ``init_dim`` (rounded, >= 1).
        bn_momentum: torch BatchNorm momentum.
    """
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")

    def scaled(c: int) -> int:
        return max(1, round(c * width))

    return MinkUNet(
        in_channels=in_channels,
        out_channels=out_channels,
        layers=tuple(layers),
        planes=tuple(scaled(p) for p in planes),
        init_dim=scaled(init_dim),
        stem_kernel=stem_kernel,
        bn_momentum=bn_momentum,
    )


def build_minkunet34(
    in_channels: int = 1, out_channels: int | None = None, width: float = 1.0
) -> MinkUNet:
    """SLidR's Res16UNet34C: layers (2, 3, 4, 6, 2, 2, 2, 2), planes (32 ... 96, 96)."""
    return build_minkunet(in_channels=in_channels, out_channels=out_channels,
                          layers=(2, 3, 4, 6, 2, 2, 2, 2), width=width)


def build_minkunet18(
    in_channels: int = 1, out_channels: int | None = None, width: float = 1.0
) -> MinkUNet:
    """Res16UNet18-style: layers (2, 2, 2, 2, 2, 2, 2, 2), same planes as MinkUNet34."""
    return build_minkunet(in_channels=in_channels, out_channels=out_channels,
                          layers=(2, 2, 2, 2, 2, 2, 2, 2), width=width)


BACKBONES = {"minkunet34": build_minkunet34, "minkunet18": build_minkunet18}
"""Backbone name -> builder ``(in_channels, out_channels, width) -> MinkUNet``; CLI choices."""
