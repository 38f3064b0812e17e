"""MinkUNet as explicit gather-GEMM-scatter over precomputed kernel maps (DESIGN.md decision 2).

The network holds spconv MinkUNet weights with BatchNorm folded in and uses only Gather
(``index_select``), MatMul, Add, ReLU, Concat and a reduction-free scatter (``index_put`` without
accumulate: ONNX ScatterND, reduction "none"). A conv adds, per kernel offset,
``acc[out] = acc[out] + x[in] @ W_d``; within one offset no output row repeats, so this is exact,
deterministic and needs no TensorRT plugin. ``index_add`` / scatter with reduction never appear.

Inputs (flat, in this order; names from :func:`input_names`): ``features`` (M0, C_in) float32,
``inverse`` (N,) int64, ``coords1..coords4`` (M_s, 4) int32 (only their row counts are used),
``subm{s}_{k}`` (2, P) int64 half maps of scale s = 0..4, k = 0..12, ``down{l}_{k}`` (2, P) int64,
l = 1..4, k = 0..7, and ``stem_{k}`` when the stem kernel is not 3. Output: ``logits`` (N, K).
Build the inputs with :func:`network_inputs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from seal_ros.core.fold import MinkUNetSpec, fold_bn, fold_bn_1x1, infer_spec
from seal_ros.core.kernel_maps import NUM_LEVELS, KernelMaps

__all__ = ["GatherMinkUNet", "input_names", "network_inputs"]


def _add_rows(acc: torch.Tensor, index: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``acc[index] += rows`` for unique ``index``, without a reducing scatter (ScatterND 'none')."""
    return acc.index_put_((index,), acc.index_select(0, index) + rows)


class SubMConv(nn.Module):
    """Sub-manifold conv (BN folded): centre as one MatMul, other offsets gather-GEMM-scatter."""

    def __init__(self, kernel: int, c_in: int, c_out: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.zeros(kernel**3, c_in, c_out), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(c_out), requires_grad=False)

    def forward(self, x: torch.Tensor, half: Sequence[torch.Tensor]) -> torch.Tensor:
        K = self.kernel**3
        centre = K // 2
        acc = x @ self.weight[centre] + self.bias  # (M, C_out)
        for k, pairs in enumerate(half):  # offset +d = centre + 1 + k, -d = centre - 1 - k
            a, b = pairs[0], pairs[1]  # coord[a] = coord[b] + d
            acc = _add_rows(acc, b, x.index_select(0, a) @ self.weight[centre + 1 + k])
            acc = _add_rows(acc, a, x.index_select(0, b) @ self.weight[centre - 1 - k])
        return acc


class DownConv(nn.Module):
    """k2 s2 conv (BN folded) from scale l - 1 to scale l."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(8, c_in, c_out), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(c_out), requires_grad=False)

    def forward(self, x: torch.Tensor, maps: Sequence[torch.Tensor], coarse: torch.Tensor
                ) -> torch.Tensor:
        M = coarse.shape[0]
        acc = self.bias.expand(M, -1).clone()  # (M_coarse, C_out)
        for k, pairs in enumerate(maps):
            acc = _add_rows(acc, pairs[1], x.index_select(0, pairs[0]) @ self.weight[k])
        return acc


class UpConv(nn.Module):
    """Inverse k2 conv (BN folded) from scale l to l - 1: each fine row gets one product."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(8, c_in, c_out), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(c_out), requires_grad=False)

    def forward(self, x: torch.Tensor, maps: Sequence[torch.Tensor], fine_rows: int
                ) -> torch.Tensor:
        rows = torch.cat([x.index_select(0, p[1]) @ self.weight[k] for k, p in enumerate(maps)])
        index = torch.cat([p[0] for p in maps])  # every fine row at most once: unique
        out = self.bias.expand(fine_rows, -1).clone()  # rows spconv drops at an odd edge: bias
        return out.index_put_((index,), rows + self.bias)


class Linear(nn.Module):
    """x @ W + b (1x1x1 conv, BN folded, or the head)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(c_in, c_out), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(c_out), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class Block(nn.Module):
    """BasicBlock: relu(conv2(relu(conv1 x)) + shortcut x)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = SubMConv(3, c_in, c_out)
        self.conv2 = SubMConv(3, c_out, c_out)
        self.shortcut = Linear(c_in, c_out) if c_in != c_out else None

    def forward(self, x: torch.Tensor, half: Sequence[torch.Tensor]) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        h = torch.relu(self.conv1(x, half))
        return torch.relu(self.conv2(h, half) + identity)


class GatherMinkUNet(nn.Module):
    """MinkUNet (same topology as :class:`seal_ros.core.minkunet.MinkUNet`) on kernel maps.

    Build it with :meth:`from_spconv`; weights are constants (no training).
    """

    def __init__(self, spec: MinkUNetSpec) -> None:
        super().__init__()
        self.spec = spec
        planes, layers = spec.planes, spec.layers
        self.stem = SubMConv(spec.stem_kernel, spec.in_channels, spec.init_dim)
        self.down = nn.ModuleList()
        self.encoder = nn.ModuleList()
        skips = [spec.init_dim]
        channels = spec.init_dim
        for level in range(NUM_LEVELS):
            self.down.append(DownConv(channels, channels))
            self.encoder.append(nn.ModuleList(
                Block(channels if b == 0 else planes[level], planes[level])
                for b in range(layers[level])))
            channels = planes[level]
            skips.append(channels)
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for step in range(NUM_LEVELS):
            level = NUM_LEVELS - step
            up_channels = planes[NUM_LEVELS + step]
            self.up.append(UpConv(channels, up_channels))
            c_in = up_channels + skips[level - 1]
            self.decoder.append(nn.ModuleList(
                Block(c_in if b == 0 else up_channels, up_channels)
                for b in range(layers[NUM_LEVELS + step])))
            channels = up_channels
        self.head = None if spec.out_channels is None else Linear(channels, spec.out_channels)
        self.out_channels = channels if spec.out_channels is None else spec.out_channels

    @classmethod
    def from_spconv(cls, state: Mapping[str, torch.Tensor], eps: float = 1e-5) -> GatherMinkUNet:
        """Build from a spconv MinkUNet state dict (eval-mode BatchNorm folded, epsilon ``eps``)."""
        spec = infer_spec(state)
        net = cls(spec)
        net.load_spconv(state, eps)
        return net.eval()

    @torch.no_grad()
    def load_spconv(self, state: Mapping[str, torch.Tensor], eps: float = 1e-5) -> None:
        """Copy folded spconv weights into this network (shapes must match its spec)."""

        def conv(module: nn.Module, weight_key: str, bn: str) -> None:
            if isinstance(module, Linear):
                w, b = fold_bn_1x1(state[weight_key], state, bn, eps)
            else:
                w, b = fold_bn(state[weight_key], state, bn, eps)
            module.weight.copy_(w)
            module.bias.copy_(b)

        def block(module: Block, key: str) -> None:
            conv(module.conv1, f"{key}.conv1.weight", f"{key}.bn1")
            conv(module.conv2, f"{key}.conv2.weight", f"{key}.bn2")
            if module.shortcut is not None:
                conv(module.shortcut, f"{key}.downsample.0.weight", f"{key}.downsample.1")

        conv(self.stem, "stem.0.weight", "stem.1")
        for index in range(NUM_LEVELS):
            conv(self.down[index], f"down.{index}.0.weight", f"down.{index}.1")
            for b, blk in enumerate(self.encoder[index]):
                block(blk, f"encoder.{index}.{b}")
            conv(self.up[index], f"up.{index}.0.weight", f"up.{index}.1")
            for b, blk in enumerate(self.decoder[index]):
                block(blk, f"decoder.{index}.{b}")
        if self.head is not None:
            self.head.weight.copy_(state["head.weight"].t())
            self.head.bias.copy_(state["head.bias"])

    def forward(self, features: torch.Tensor, inverse: torch.Tensor, *maps: torch.Tensor
                ) -> torch.Tensor:
        """Per-point outputs (N, out_channels); ``maps`` laid out as :func:`network_inputs`."""
        coarse = maps[:NUM_LEVELS]  # (M_s, 4) for s = 1..4, shapes only
        pos = NUM_LEVELS
        subm = []
        for _ in range(NUM_LEVELS + 1):
            subm.append(maps[pos:pos + 13])
            pos += 13
        down = []
        for _ in range(NUM_LEVELS):
            down.append(maps[pos:pos + 8])
            pos += 8
        stem = subm[0] if self.spec.stem_kernel == 3 else maps[pos:]

        x = torch.relu(self.stem(features, stem))  # (M0, init_dim)
        skips = [x]
        for index in range(NUM_LEVELS):
            x = torch.relu(self.down[index](x, down[index], coarse[index]))
            for blk in self.encoder[index]:
                x = blk(x, subm[index + 1])
            skips.append(x)
        skips.pop()
        for step in range(NUM_LEVELS):
            level = NUM_LEVELS - step
            skip = skips.pop()
            x = torch.relu(self.up[step](x, down[level - 1], skip.shape[0]))
            x = torch.cat([x, skip], dim=1)
            for blk in self.decoder[step]:
                x = blk(x, subm[level - 1])
        if self.head is not None:
            x = self.head(x)  # (M0, K)
        return x.index_select(0, inverse)  # (N, K)


def input_names(stem_kernel: int = 3) -> list[str]:
    """Names of the flat network inputs (ONNX input names), in order."""
    names = ["features", "inverse"] + [f"coords{s}" for s in range(1, NUM_LEVELS + 1)]
    names += [f"subm{s}_{k}" for s in range(NUM_LEVELS + 1) for k in range(13)]
    names += [f"down{lv}_{k}" for lv in range(1, NUM_LEVELS + 1) for k in range(8)]
    if stem_kernel != 3:
        names += [f"stem_{k}" for k in range((stem_kernel**3 - 1) // 2)]
    return names


def network_inputs(features: torch.Tensor, inverse: torch.Tensor, maps: KernelMaps
                   ) -> tuple[torch.Tensor, ...]:
    """Flat inputs of :class:`GatherMinkUNet` (order of :func:`input_names`)."""
    if maps.levels != NUM_LEVELS:
        raise ValueError(f"maps have {maps.levels} levels, MinkUNet needs {NUM_LEVELS}")
    flat = [features, inverse, *maps.coords[1:]]
    for half in maps.subm:
        flat += half
    for level in maps.down:
        flat += level
    if maps.stem is not None:
        flat += maps.stem
    return tuple(flat)
