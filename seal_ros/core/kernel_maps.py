"""Kernel maps of a MinkUNet, built from voxel coordinates by sort + binary search (DESIGN.md 2).

A kernel map lists, per kernel offset, the (input row, output row) pairs that really exist. They are
built outside the network, in torch, vectorised, with the same code on CPU and GPU: coordinates are
packed into one int64 key, the keys sorted once, and every offset is one ``searchsorted`` (a Python
loop over the offsets, never over points).

Scales: scale 0 holds the input voxels; scale ``l`` (1..4) holds ``unique(floor(coord / 2))`` of
scale ``l - 1`` per scan, exactly the output sites of spconv's ``SparseConv3d(k=2, s=2)``. Rows of
scale 0 keep the caller's order; coarser scales are sorted by (scan, i, j, k). spconv orders its
coarse rows differently (hash order), which does not matter: only scale-0 rows leave the network.

Conventions (those of spconv, checked against dense ``conv3d`` in ``test_spconv_patch.py``):

- sub-manifold k (odd): offset ``d`` in ``{-r..r}^3`` (r = k // 2), flat index
  ``(di + r) k^2 + (dj + r) k + (dk + r)`` = spconv's weight index ``[:, di + r, dj + r, dk + r, :]``;
  pair (in, out) means ``out[out] += W_d @ x[in]`` with ``coord[in] = coord[out] + d``. Pairs of
  ``-d`` are the swapped pairs of ``+d`` and the centre is the identity, so only the
  ``(k^3 - 1) / 2`` offsets after the centre are stored ("half maps").
- down (k 2, s 2): offset ``(a, b, c) = coord_fine % 2``, flat ``4a + 2b + c``; pair (fine row,
  coarse row). Every fine voxel is in exactly one offset.
- up (inverse k 2): the down pairs swapped: (coarse row, fine row), same offset index.

Within one offset no output row repeats (so a reduction-free scatter per offset is exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KernelMaps", "NUM_LEVELS", "build_kernel_maps", "spconv_spatial_shapes"]

NUM_LEVELS = 4  # stride-2 levels of MinkUNet


def spconv_spatial_shapes(
    spatial_shape: tuple[int, int, int], levels: int = NUM_LEVELS
) -> list[tuple[int, int, int]]:
    """Grid shape per scale as spconv computes it for MinkUNet (``minkunet.forward_voxels``).

    Scale 0 is padded to >= 2**levels cells per axis; each k2 s2 conv gives ``(s - 2) // 2 + 1``, so
    on an odd axis the last fine cell has no parent and spconv drops it.
    """
    shapes = [tuple(max(int(s), 2**levels) for s in spatial_shape)]
    for _ in range(levels):
        shapes.append(tuple((s - 2) // 2 + 1 for s in shapes[-1]))
    return shapes  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class KernelMaps:
    """Every scale's voxels and every conv's pairs for one voxelised batch.

    Attributes:
        coords: (levels + 1) tensors (M_s, 4) int32 [scan, i, j, k], cells of scale s (stride 2^s).
        subm: per scale, (k^3 - 1) / 2 tensors (2, P) int64 [in row; out row] of the 3x3x3
            sub-manifold offsets after the centre (the others follow by symmetry).
        down: per level l = 1..levels (index l - 1), 8 tensors (2, P) int64 [row at scale l - 1;
            row at scale l] of the k2 s2 conv.
        stem: half maps of the stem kernel at scale 0 when it is not 3 (else None: use subm[0]).
        stem_kernel: stem kernel size.
    """

    coords: tuple[torch.Tensor, ...]
    subm: tuple[tuple[torch.Tensor, ...], ...]
    down: tuple[tuple[torch.Tensor, ...], ...]
    stem: tuple[torch.Tensor, ...] | None = None
    stem_kernel: int = 3

    @property
    def levels(self) -> int:
        return len(self.down)

    @property
    def stem_maps(self) -> tuple[torch.Tensor, ...]:
        """Half maps of the stem conv (scale 0)."""
        return self.subm[0] if self.stem is None else self.stem

    def subm_pairs(self, scale: int, kernel: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """All kernel^3 (in_idx, out_idx) pairs of a sub-manifold conv, spconv's offset order."""
        half = self.subm[scale] if kernel == 3 else self.stem_maps
        if kernel != 3 and (scale != 0 or kernel != self.stem_kernel):
            raise ValueError(f"no maps for kernel {kernel} at scale {scale}")
        rows = torch.arange(self.coords[scale].shape[0], device=self.coords[scale].device)
        neg = [(p[1], p[0]) for p in reversed(half)]  # offset -d = swapped pairs of +d
        return neg + [(rows, rows)] + [(p[0], p[1]) for p in half]

    def down_pairs(self, level: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """8 (fine row, coarse row) pairs of the stride-2 conv into scale ``level``."""
        return [(p[0], p[1]) for p in self.down[level - 1]]

    def up_pairs(self, level: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """8 (coarse row, fine row) pairs of the inverse conv from scale ``level``."""
        return [(p[1], p[0]) for p in self.down[level - 1]]

    @property
    def counts(self) -> dict[str, int]:
        """Voxels per scale (``voxels{s}``) and pairs per conv type (``subm{s}``, ``down{l}``)."""
        out: dict[str, int] = {}
        for s, c in enumerate(self.coords):
            out[f"voxels{s}"] = int(c.shape[0])
        for s, half in enumerate(self.subm):  # all 27 offsets, centre included
            out[f"subm{s}"] = 2 * sum(int(p.shape[1]) for p in half) + int(self.coords[s].shape[0])
        for level, maps in enumerate(self.down, start=1):
            out[f"down{level}"] = sum(int(p.shape[1]) for p in maps)
        return out

    def to(self, device: torch.device | str) -> KernelMaps:
        """The same maps on ``device``."""
        def move(ts: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            return tuple(t.to(device) for t in ts)

        return KernelMaps(
            coords=move(self.coords),
            subm=tuple(move(h) for h in self.subm),
            down=tuple(move(d) for d in self.down),
            stem=None if self.stem is None else move(self.stem),
            stem_kernel=self.stem_kernel,
        )


def _pack(coords: torch.Tensor, extent: torch.Tensor, margin: int) -> torch.Tensor:
    """(M, 4) int64 coords -> (M,) int64 keys; cells shifted by ``margin`` so offsets never wrap."""
    shift = torch.tensor([0, margin, margin, margin], device=coords.device)
    b, i, j, k = (coords + shift).unbind(1)
    D, H, W = extent.unbind(0)
    return ((b * D + i) * H + j) * W + k


def _half_maps(coords: torch.Tensor, kernel: int) -> tuple[torch.Tensor, ...]:
    """Half sub-manifold maps of one scale (see :class:`KernelMaps`)."""
    M = coords.shape[0]
    r = kernel // 2
    empty = torch.empty(2, 0, dtype=torch.int64, device=coords.device)
    n_half = (kernel**3 - 1) // 2
    if M == 0:
        return tuple(empty for _ in range(n_half))
    c = coords.to(torch.int64)
    extent = c[:, 1:].amax(dim=0) + 1 + 2 * r  # (3,) cells per axis incl. margins
    keys = _pack(c, extent, r)  # (M,)
    sorted_keys, order = torch.sort(keys)
    D, H, W = extent.tolist()
    maps = []
    offsets = [(di, dj, dk) for di in range(-r, r + 1) for dj in range(-r, r + 1)
               for dk in range(-r, r + 1)]
    for di, dj, dk in offsets[n_half + 1:]:  # after the centre
        delta = (di * H + dj) * W + dk
        query = sorted_keys + delta  # keys of coord + d, for every output (sorted order)
        pos = torch.searchsorted(sorted_keys, query).clamp_(max=M - 1)
        hit = sorted_keys[pos] == query
        maps.append(torch.stack([order[pos[hit]], order[hit]]))  # (2, P) [in; out]
    return tuple(maps)


def _down(
    coords: torch.Tensor, bound: tuple[int, int, int] | None
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Coarse coords (sorted) and the 8 (fine row, coarse row) maps of a k2 s2 conv."""
    c = coords.to(torch.int64)
    rows = torch.arange(c.shape[0], device=c.device)
    parent = torch.cat([c[:, :1], torch.div(c[:, 1:], 2, rounding_mode="floor")], dim=1)
    if bound is not None:  # spconv drops fine cells whose parent lies outside its output grid
        inside = (parent[:, 1:] < torch.tensor(bound, device=c.device)).all(dim=1)
        c, parent, rows = c[inside], parent[inside], rows[inside]
    if c.shape[0] == 0:
        empty = torch.empty(2, 0, dtype=torch.int64, device=coords.device)
        return coords.new_empty(0, 4), tuple(empty for _ in range(8))
    extent = parent[:, 1:].amax(dim=0) + 1
    keys = _pack(parent, extent, 0)
    uniq, inverse = torch.unique(keys, return_inverse=True)  # sorted (scan, i, j, k)
    D, H, W = extent.tolist()
    coarse = torch.stack(
        [uniq // (D * H * W), (uniq // (H * W)) % D, (uniq // W) % H, uniq % W], dim=1
    ).to(torch.int32)
    parity = c[:, 1:] % 2
    code = parity[:, 0] * 4 + parity[:, 1] * 2 + parity[:, 2]  # (M',) offset index 0..7
    by_code = torch.argsort(code, stable=True)
    counts = torch.bincount(code, minlength=8).tolist()
    maps = tuple(
        torch.stack([rows[sel], inverse[sel]]) for sel in torch.split(by_code, counts)
    )
    return coarse.contiguous(), maps


def build_kernel_maps(
    coords: torch.Tensor,
    levels: int = NUM_LEVELS,
    stem_kernel: int = 3,
    spatial_shape: tuple[int, int, int] | None = None,
) -> KernelMaps:
    """Build every scale's coordinates and every conv's kernel map.

    Args:
        coords: (M, 4) int [scan, i, j, k] unique voxels of scale 0, cells >= 0 (any row order).
        levels: stride-2 levels (4 for MinkUNet).
        stem_kernel: odd stem kernel size; maps for it are built when it is not 3.
        spatial_shape: the scale-0 grid shape given to spconv (``SparseBatch.spatial_shape``). When
            given, fine cells that spconv drops at an odd grid edge are dropped too (see
            :func:`spconv_spatial_shapes`), so the maps equal spconv's; None keeps every cell.

    Returns:
        The maps, on ``coords``' device.
    """
    if coords.ndim != 2 or coords.shape[1] != 4:
        raise ValueError(f"coords must be (M, 4), got {tuple(coords.shape)}")
    if stem_kernel % 2 != 1:
        raise ValueError(f"stem_kernel must be odd, got {stem_kernel}")
    bounds = None if spatial_shape is None else spconv_spatial_shapes(spatial_shape, levels)
    scale_coords = [coords.to(torch.int32).contiguous()]
    down = []
    for level in range(1, levels + 1):
        bound = None if bounds is None else bounds[level]
        coarse, maps = _down(scale_coords[-1], bound)
        scale_coords.append(coarse)
        down.append(maps)
    subm = tuple(_half_maps(c, 3) for c in scale_coords)
    stem = None if stem_kernel == 3 else _half_maps(scale_coords[0], stem_kernel)
    return KernelMaps(coords=tuple(scale_coords), subm=subm, down=tuple(down), stem=stem,
                      stem_kernel=stem_kernel)
