"""MinkUNet as explicit gather-GEMM over precomputed kernel maps (DESIGN.md decision 2).

The network holds spconv MinkUNet weights with BatchNorm folded in and uses only Gather
(``index_select``), MatMul, Add, ReLU, Concat and Pad (plus the shape arithmetic of dynamic sizes):
a conv gathers its input rows per kernel offset, multiplies, concatenates the products and sums
them per output row by rank (:func:`_accumulate`, :class:`~seal_ros.core.kernel_maps.ConvMap`).
There is no scatter at all, so onnxruntime never copies a full accumulator per offset and TensorRT
needs no plugin; ``index_add`` / scatter with reduction never appear.

Inputs (flat, names and order from :func:`input_names`, built by :func:`network_inputs`; rows of
every scale in network order, see :mod:`seal_ros.core.kernel_maps`):

- ``features`` (M0, C_in) float32, ``inverse`` (N,) int64 voxel row of every point;
- per scale s = 0..4: ``subm{s}_pairs{k}`` (2, P) int64, k = 0..12, and ``subm{s}_rank{r}``
  (m_r,) int64, r = 0..25;
- per level l = 1..4: ``down{l}_pairs{k}`` (2, P) int64, k = 0..7, ``down{l}_rank{r}`` (m_r,)
  int64, r = 0..7, ``down{l}_perm`` (M_l,) int64 and ``up{l}_index`` (M_{l-1},) int64;
- stem kernel k != 3 only: ``stem_pairs{k}`` ((k^3 - 1) / 2 of them), ``stem_rank{r}``
  (k^3 - 1), ``stem_perm`` (M0,).

Output: ``logits`` (N, K). :func:`tensorrt_profile` gives every input's (min, opt, max) size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from seal_ros.core.fold import MinkUNetSpec, fold_bn, fold_bn_1x1, infer_spec
from seal_ros.core.kernel_maps import NUM_LEVELS, KernelMaps

__all__ = ["GatherMinkUNet", "dynamic_dims", "input_names", "network_inputs", "tensorrt_profile"]


def _accumulate(y: torch.Tensor, ranks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum the products ``y`` into output rows 0 .. m_0 - 1 (see :class:`ConvMap`): (m_0, C).

    Rank r adds one product to rows 0 .. m_r - 1, m_r non-increasing; growing the sum from the
    last rank by zero rows (Pad) touches every product once and never copies a full-size buffer.
    """
    acc = y.index_select(0, ranks[-1])
    for index in reversed(ranks[:-1]):
        g = y.index_select(0, index)  # (m_r, C)
        acc = F.pad(acc, (0, 0, 0, g.shape[0] - acc.shape[0])) + g
    return acc


class SubMConv(nn.Module):
    """Sub-manifold conv (BN folded): centre as one MatMul, each +-d offset pair as one batched
    gather-GEMM, products summed by rank (no scatter)."""

    def __init__(self, kernel: int, c_in: int, c_out: int) -> None:
        super().__init__()
        self.kernel = kernel
        n_half = (kernel**3 - 1) // 2
        self.centre = nn.Parameter(torch.zeros(c_in, c_out), requires_grad=False)
        self.pairs_weight = nn.Parameter(torch.zeros(n_half, 2, c_in, c_out), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(c_out), requires_grad=False)

    def set_weight(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """From (k^3, C_in, C_out) spconv-order matrices: half offset k pairs +d with -d."""
        centre = weight.shape[0] // 2
        self.centre.copy_(weight[centre])
        self.pairs_weight.copy_(torch.stack([weight[centre + 1:], weight[:centre].flip(0)], 1))
        self.bias.copy_(bias)

    def forward(self, x: torch.Tensor, pairs: Sequence[torch.Tensor],
                ranks: Sequence[torch.Tensor], perm: torch.Tensor | None = None) -> torch.Tensor:
        C_in, C_out = self.centre.shape
        products = []
        for k, p in enumerate(pairs):  # p (2, P): coord[p[0]] = coord[p[1]] + d
            xg = x.index_select(0, p.reshape(-1)).reshape(2, -1, C_in)  # [x[in of +d]; x[in of -d]]
            products.append((xg @ self.pairs_weight[k]).reshape(-1, C_out))  # (2P, C_out)
        acc = _accumulate(torch.cat(products), ranks)  # (m_0, C_out), rows by neighbour count
        acc = F.pad(acc, (0, 0, 0, x.shape[0] - acc.shape[0]))  # rows without neighbours: 0
        if perm is not None:
            acc = acc.index_select(0, perm)
        return acc + (x @ self.centre + self.bias)


class DownConv(nn.Module):
    """k2 s2 conv (BN folded) from scale l - 1 to scale l: every coarse row has >= 1 child."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(8, c_in, c_out), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(c_out), requires_grad=False)

    def forward(self, x: torch.Tensor, pairs: Sequence[torch.Tensor],
                ranks: Sequence[torch.Tensor], perm: torch.Tensor) -> torch.Tensor:
        products = [x.index_select(0, p[0]) @ self.weight[k] for k, p in enumerate(pairs)]
        return _accumulate(torch.cat(products), ranks).index_select(0, perm) + self.bias


class UpConv(nn.Module):
    """Inverse k2 conv (BN folded) from scale l to l - 1: each fine row gets one product."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(8, c_in, c_out), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(c_out), requires_grad=False)

    def forward(self, x: torch.Tensor, pairs: Sequence[torch.Tensor], index: torch.Tensor
                ) -> torch.Tensor:
        products = [x.index_select(0, p[1]) @ self.weight[k] for k, p in enumerate(pairs)]
        return torch.cat(products).index_select(0, index) + self.bias


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

    def forward(self, x: torch.Tensor, pairs: Sequence[torch.Tensor],
                ranks: Sequence[torch.Tensor]) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        h = torch.relu(self.conv1(x, pairs, ranks))
        return torch.relu(self.conv2(h, pairs, ranks) + identity)


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

    @staticmethod
    def _blocks(stages: nn.ModuleList, index: int) -> Iterable[Block]:
        """The residual blocks of one encoder / decoder stage (a container of Blocks)."""
        return cast(Iterable[Block], stages[index])

    @torch.no_grad()
    def load_spconv(self, state: Mapping[str, torch.Tensor], eps: float = 1e-5) -> None:
        """Copy folded spconv weights into this network (shapes must match its spec)."""

        def conv(module: nn.Module, weight_key: str, bn: str) -> None:
            if isinstance(module, Linear):
                w, b = fold_bn_1x1(state[weight_key], state, bn, eps)
            else:
                w, b = fold_bn(state[weight_key], state, bn, eps)
            if isinstance(module, SubMConv):
                module.set_weight(w, b)
            else:
                assert isinstance(module.weight, torch.Tensor)
                assert isinstance(module.bias, torch.Tensor)
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
            for b, blk in enumerate(self._blocks(self.encoder, index)):
                block(blk, f"encoder.{index}.{b}")
            conv(self.up[index], f"up.{index}.0.weight", f"up.{index}.1")
            for b, blk in enumerate(self._blocks(self.decoder, index)):
                block(blk, f"decoder.{index}.{b}")
        if self.head is not None:
            self.head.weight.copy_(state["head.weight"].t())
            self.head.bias.copy_(state["head.bias"])

    def forward(self, features: torch.Tensor, inverse: torch.Tensor, *maps: torch.Tensor
                ) -> torch.Tensor:
        """Per-point outputs (N, out_channels); ``maps`` laid out as :func:`network_inputs`."""
        n_subm, n_down = 13, 8
        pos = 0

        def take(n: int) -> tuple[torch.Tensor, ...]:
            nonlocal pos
            pos += n
            return maps[pos - n:pos]

        subm = [(take(n_subm), take(2 * n_subm)) for _ in range(NUM_LEVELS + 1)]
        down = [(take(n_down), take(n_down), *take(2)) for _ in range(NUM_LEVELS)]
        if self.spec.stem_kernel == 3:
            x = self.stem(features, *subm[0])
        else:
            n_stem = (self.spec.stem_kernel**3 - 1) // 2
            x = self.stem(features, take(n_stem), take(2 * n_stem), *take(1))
        x = torch.relu(x)  # (M0, init_dim)
        skips = [x]
        for index in range(NUM_LEVELS):
            pairs, ranks, perm, _ = down[index]
            x = torch.relu(self.down[index](x, pairs, ranks, perm))
            for blk in self._blocks(self.encoder, index):
                x = blk(x, *subm[index + 1])
            skips.append(x)
        skips.pop()
        for step in range(NUM_LEVELS):
            level = NUM_LEVELS - step
            pairs, _, _, up_index = down[level - 1]
            x = torch.relu(self.up[step](x, pairs, up_index))
            x = torch.cat([x, skips.pop()], dim=1)
            for blk in self._blocks(self.decoder, step):
                x = blk(x, *subm[level - 1])
        if self.head is not None:
            x = self.head(x)  # (M0, K)
        return x.index_select(0, inverse)  # (N, K)


def input_names(stem_kernel: int = 3) -> list[str]:
    """Names of the flat network inputs (ONNX input names), in order."""
    names = ["features", "inverse"]
    for s in range(NUM_LEVELS + 1):
        names += [f"subm{s}_pairs{k}" for k in range(13)] + [f"subm{s}_rank{r}" for r in range(26)]
    for lv in range(1, NUM_LEVELS + 1):
        names += [f"down{lv}_pairs{k}" for k in range(8)] + [f"down{lv}_rank{r}" for r in range(8)]
        names += [f"down{lv}_perm", f"up{lv}_index"]
    if stem_kernel != 3:
        n_half = (stem_kernel**3 - 1) // 2
        names += [f"stem_pairs{k}" for k in range(n_half)]
        names += [f"stem_rank{r}" for r in range(2 * n_half)] + ["stem_perm"]
    return names


def network_inputs(features: torch.Tensor, inverse: torch.Tensor, maps: KernelMaps
                   ) -> tuple[torch.Tensor, ...]:
    """Flat inputs of :class:`GatherMinkUNet` (order of :func:`input_names`).

    Args:
        features: (M0, C_in) voxel features and inverse: (N,) point->voxel map, both in the
            caller's voxel order (that of the coords given to ``build_kernel_maps``).
        maps: the kernel maps of those voxels.
    """
    if maps.levels != NUM_LEVELS:
        raise ValueError(f"maps have {maps.levels} levels, MinkUNet needs {NUM_LEVELS}")
    flat = list(maps.network_order(features, inverse))
    for conv in maps.subm:
        flat += conv.tensors()
    for conv, up in zip(maps.down, maps.up, strict=True):
        flat += [*conv.tensors(), up]
    if maps.stem is not None:
        flat += maps.stem.tensors()
    return tuple(flat)


def dynamic_dims(stem_kernel: int = 3) -> dict[str, tuple[int, str]]:
    """Input name -> (its dynamic axis, size name); inputs of one size name always agree.

    Size names: ``points``, ``voxels{s}``, and one per pair list or rank list (its own name).
    """
    dims: dict[str, tuple[int, str]] = {}
    for name in input_names(stem_kernel):
        if name == "features":
            dims[name] = (0, "voxels0")
        elif name == "inverse":
            dims[name] = (0, "points")
        elif name.endswith("_perm"):
            dims[name] = (0, "voxels0" if name == "stem_perm" else f"voxels{name[4]}")
        elif name.startswith("up"):
            dims[name] = (0, f"voxels{int(name[2]) - 1}")
        else:
            dims[name] = (1 if "_pairs" in name else 0, name)
    return dims


def tensorrt_profile(points: Sequence[int], voxels: Sequence[int], stem_kernel: int = 3
                     ) -> dict[str, tuple[int, int, int]]:
    """(min, opt, max) size of every input's dynamic axis from a points/voxels profile.

    Bounds: a coarser scale never has more voxels than a finer one, and a pair or rank list
    never more entries than its scale has voxels, so every max is ``voxels[2]`` (points:
    ``points[2]``); pair and rank lists may be empty (min 0), coarse scales have >= 1 voxel when
    scale 0 does. Opt assumes LiDAR surfaces: voxels halve per level, a half offset holds a
    quarter of its scale's voxels, rank r a share 1 / (r + 1).

    Args:
        points: (min, opt, max) points per scan.
        voxels: (min, opt, max) voxels per scan at scale 0.
        stem_kernel: stem kernel size of the network.
    """
    p_min, p_opt, p_max = (int(v) for v in points)
    v_min, v_opt, v_max = (int(v) for v in voxels)
    if not (1 <= p_min <= p_opt <= p_max and 1 <= v_min <= v_opt <= v_max):
        raise ValueError(f"profile needs 1 <= min <= opt <= max, got {points} and {voxels}")

    def scale_opt(name: str) -> int:
        digits = [c for c in name if c.isdigit()]
        level = 0 if name.startswith("stem") or not digits else int(digits[0])
        return max(1, v_opt >> level)

    out: dict[str, tuple[int, int, int]] = {}
    for name, (_, size) in dynamic_dims(stem_kernel).items():
        if size == "points":
            out[name] = (p_min, p_opt, p_max)
        elif size == "voxels0":
            out[name] = (v_min, v_opt, v_max)
        elif size.startswith("voxels"):
            out[name] = (1, scale_opt(size), v_max)
        elif "_pairs" in size:
            out[name] = (0, max(1, scale_opt(size) // 4), v_max)
        else:  # rank r
            out[name] = (0, max(1, scale_opt(size) // (int(size.rsplit("rank", 1)[1]) + 1)),
                         v_max)
    return out
