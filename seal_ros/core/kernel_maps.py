"""Kernel maps of a MinkUNet, built from voxel coordinates by sort + binary search (DESIGN.md 2).

A kernel map lists, per kernel offset, the (input row, output row) pairs that really exist. They are
built outside the network, in torch, vectorised, with the same code on CPU and GPU: coordinates are
packed once into bit-field keys (:mod:`seal_ros.core.voxel_keys`: a neighbour offset is an
addition, a parent cell a shift), sorted at every scale; every voxel walks its lines of offsets
(fixed di, dj; dk = -r .. r) through the sorted keys (keys are unique, so the next neighbour on a
line is at most one row on). A line starts from a ``searchsorted`` of its first cell when it opens
an i-slab, else from a step or two on from where the previous line ended (:func:`_half_pairs`).
That walk saves searches on the CPU; on CUDA every line starts from a search instead (same maps):
there the build is launch-bound and the walk's extra operations and host syncs cost more than the
searches they save (a build took 0.9x the time searched on an H200; README, CUDA table).

Scales: scale 0 holds the input voxels; scale ``l`` (1..4) holds ``unique(floor(coord / 2))`` of
scale ``l - 1`` per scan, exactly the output sites of spconv's ``SparseConv3d(k=2, s=2)`` on a grid
padded to a multiple of 16 cells (:func:`grid_shape`), so no voxel is ever dropped.

Row order ("network order"): the rows of every scale are sorted by their number of sub-manifold
neighbours, most first. Then the output rows of "the r-th neighbour of each row" are exactly rows
``0 .. m_r - 1``, and a conv sums its pair products with one Gather, Pad and Add per rank (see
:class:`ConvMap`): no scatter, no full-size copy per offset. Scale 0's caller order is kept in
:attr:`KernelMaps.order`; :meth:`KernelMaps.network_order` moves features and the point map over.

Conventions (those of spconv, checked against dense ``conv3d`` in ``test_spconv_patch.py``):

- sub-manifold k (odd): offset ``d`` in ``{-r..r}^3`` (r = k // 2), flat index
  ``(di + r) k^2 + (dj + r) k + (dk + r)`` = spconv's weight index
  ``[:, di + r, dj + r, dk + r, :]``; pair (in, out) means ``out[out] += W_d @ x[in]`` with
  ``coord[in] = coord[out] + d``. Pairs of ``-d`` are the swapped pairs of ``+d`` and the centre is
  the identity, so only the ``(k^3 - 1) / 2`` offsets after the centre are stored ("half maps").
- down (k 2, s 2): offset ``(a, b, c) = coord_fine % 2``, flat ``4a + 2b + c``; pair (fine row,
  coarse row). Every fine voxel is in exactly one offset.
- up (inverse k 2): the down pairs swapped: (coarse row, fine row), same offset index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from seal_ros.core.voxel_keys import KeyLayout

__all__ = ["ConvMap", "KernelMaps", "NUM_LEVELS", "build_kernel_maps", "grid_shape",
           "spconv_spatial_shapes"]

NUM_LEVELS = 4  # stride-2 levels of MinkUNet
WALK_DEVICES = ("cpu",)  # device types where a line starts from the last walk, not a search


def grid_shape(spatial_shape: Sequence[int], levels: int = NUM_LEVELS) -> tuple[int, int, int]:
    """Scale-0 grid handed to spconv: every axis rounded up to a multiple of ``2**levels``.

    spconv's k2 s2 conv gives ``(s - 2) // 2 + 1`` cells, which on an odd axis has no parent for
    the last cell: its voxels would vanish. A multiple of ``2**levels`` halves exactly each level.
    """
    step = 2**levels
    i, j, k = (-(-max(int(s), 1) // step) * step for s in spatial_shape)
    return i, j, k


def spconv_spatial_shapes(
    spatial_shape: Sequence[int], levels: int = NUM_LEVELS
) -> list[tuple[int, int, int]]:
    """Grid shape per scale as spconv computes it for MinkUNet (``minkunet.forward_voxels``)."""
    shapes = [grid_shape(spatial_shape, levels)]
    for _ in range(levels):
        shapes.append(tuple((s - 2) // 2 + 1 for s in shapes[-1]))  # type: ignore[arg-type]
    return shapes


@dataclass(frozen=True, slots=True)
class ConvMap:
    """Everything one conv type needs: its pairs and how to sum their products.

    The conv computes the products ``Y`` of its pairs block by block (sub-manifold: per half
    offset k ``[x[pairs[k][0]] @ W_{+d}; x[pairs[k][1]] @ W_{-d}]``, output rows
    ``[pairs[k][1]; pairs[k][0]]``; down: per offset ``x[pairs[k][0]] @ W_k``, output rows
    ``pairs[k][1]``), rows of ``Y`` in that order. Sorted by how many products they receive (most
    first), the output rows that receive an r-th product are ``0 .. m_r - 1``, and ``ranks[r]``
    (m_r,) lists the row of ``Y`` each of them receives; so
    ``acc = Y[ranks[R-1]]; acc = pad(acc, m_r) + Y[ranks[r]]`` for r = R-2 .. 0 sums all products.

    Attributes:
        pairs: per offset, (2, P) int64 [in row; out row].
        ranks: per rank r, (m_r,) int64 rows of ``Y``; m_r is non-increasing.
        perm: None when the output rows are already sorted that way (sub-manifold convs, whose
            scale is in network order), else (M_out,) int64 position of each output row in the
            sorted accumulation (down convs, the stem of kernel != 3).
    """

    pairs: tuple[torch.Tensor, ...]
    ranks: tuple[torch.Tensor, ...]
    perm: torch.Tensor | None = None

    def tensors(self) -> list[torch.Tensor]:
        """Flat tensors in network input order (pairs, ranks, perm)."""
        return [*self.pairs, *self.ranks, *([] if self.perm is None else [self.perm])]

    def to(self, device: torch.device | str) -> ConvMap:
        return ConvMap(tuple(t.to(device) for t in self.pairs),
                       tuple(t.to(device) for t in self.ranks),
                       None if self.perm is None else self.perm.to(device))


@dataclass(frozen=True, slots=True)
class KernelMaps:
    """Every scale's voxels and every conv's maps for one voxelised batch, in network order.

    Attributes:
        coords: (levels + 1) tensors (M_s, 4) int32 [scan, i, j, k], cells of scale s (stride 2^s).
        order: (M_0,) int64, network row r of scale 0 is the caller's voxel ``order[r]``.
        subm: per scale, the 3x3x3 sub-manifold map: 13 half offsets (after the centre), 26 ranks.
        down: per level l = 1..levels (index l - 1), the k2 s2 map from scale l - 1 to l:
            8 offsets, 8 ranks and a perm.
        up: per level, (M_{l-1},) int64 row of the down products ``Y`` (same layout as the down
            conv's) of every fine row: the inverse conv gives each fine row exactly one product.
        stem: map of the stem kernel at scale 0 when it is not 3 (with perm), else None.
        stem_kernel: stem kernel size.
    """

    coords: tuple[torch.Tensor, ...]
    order: torch.Tensor
    subm: tuple[ConvMap, ...]
    down: tuple[ConvMap, ...]
    up: tuple[torch.Tensor, ...]
    stem: ConvMap | None = None
    stem_kernel: int = 3

    @property
    def levels(self) -> int:
        return len(self.down)

    def network_order(self, features: torch.Tensor, inverse: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Voxel features (caller order) and point->voxel map, moved to network row order."""
        rank = torch.empty_like(self.order)
        rank[self.order] = torch.arange(self.order.numel(), device=self.order.device)
        return features.index_select(0, self.order), rank.index_select(0, inverse)

    def subm_pairs(self, scale: int, kernel: int = 3) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """All kernel^3 (in_idx, out_idx) pairs of a sub-manifold conv, spconv's offset order."""
        if kernel != 3 and (scale != 0 or kernel != self.stem_kernel or self.stem is None):
            raise ValueError(f"no maps for kernel {kernel} at scale {scale}")
        half = (self.subm[scale] if kernel == 3 else self.stem).pairs  # type: ignore[union-attr]
        rows = torch.arange(self.coords[scale].shape[0], device=self.coords[scale].device)
        neg = [(p[1], p[0]) for p in reversed(half)]  # offset -d = swapped pairs of +d
        return neg + [(rows, rows)] + [(p[0], p[1]) for p in half]

    def down_pairs(self, level: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """8 (fine row, coarse row) pairs of the stride-2 conv into scale ``level``."""
        return [(p[0], p[1]) for p in self.down[level - 1].pairs]

    def up_pairs(self, level: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """8 (coarse row, fine row) pairs of the inverse conv from scale ``level``."""
        return [(p[1], p[0]) for p in self.down[level - 1].pairs]

    @property
    def counts(self) -> dict[str, int]:
        """Voxels per scale (``voxels{s}``) and pairs per conv type (``subm{s}``, ``down{l}``)."""
        out: dict[str, int] = {}
        for s, c in enumerate(self.coords):
            out[f"voxels{s}"] = int(c.shape[0])
        for s, conv in enumerate(self.subm):  # all 27 offsets, centre included
            out[f"subm{s}"] = (2 * sum(int(p.shape[1]) for p in conv.pairs)
                               + int(self.coords[s].shape[0]))
        for level, conv in enumerate(self.down, start=1):
            out[f"down{level}"] = sum(int(p.shape[1]) for p in conv.pairs)
        return out

    def to(self, device: torch.device | str) -> KernelMaps:
        """The same maps on ``device``."""
        return KernelMaps(
            coords=tuple(c.to(device) for c in self.coords),
            order=self.order.to(device),
            subm=tuple(c.to(device) for c in self.subm),
            down=tuple(c.to(device) for c in self.down),
            up=tuple(u.to(device) for u in self.up),
            stem=None if self.stem is None else self.stem.to(device),
            stem_kernel=self.stem_kernel,
        )


def _gather(src: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``src.take(index)`` for 1-D ``src``; index_select is ~3x faster than take on CPU."""
    return src.index_select(0, index.reshape(-1)).view(index.shape)


def _skip(sorted_keys: torch.Tensor, padded: torch.Tensor, query: torch.Tensor,
          pos: torch.Tensor, tries: int = 2) -> torch.Tensor:
    """First row whose key is >= ``query``, given ``pos`` at or before it: ``tries`` steps on,
    then a search for the rows still short (most lines start within a step or two of where the
    previous line's walk ended; a search costs as much as ~10 steps)."""
    for _ in range(tries):
        pos = pos + (_gather(padded, pos) < query)
    short = (_gather(padded, pos) < query).nonzero().squeeze(1)
    if short.numel():
        pos[short] = torch.searchsorted(sorted_keys, query.index_select(0, short), out_int32=True)
    return pos


def _half_pairs(keys: torch.Tensor, layout: KeyLayout, kernel: int
                ) -> tuple[torch.Tensor, list[int]]:
    """Half sub-manifold pairs of one scale: every offset's in one (2, P) [in; out], rows as in
    ``keys``, and P per offset.

    Every row walks its half offsets in key order, one line of cells at a time: line (0, 0)
    (cells k + 1 .. k + r) from the next row, then each line (di, dj) > (0, 0) (cells k - r ..
    k + r). A step compares the key at ``pos`` with the cell and moves one row on a hit (keys
    are unique and sorted). The first line of an i-slab (dj = -r) is searched; the next line is
    one column on and starts at or after where the last walk ended (a key between the two would
    need a cell above ``k_max + r``, beyond any voxel: the k field holds up to ``k_max + r``), so
    :func:`_skip` finds it from there (on ``WALK_DEVICES``; elsewhere it is searched too). One
    ``nonzero`` over the (offset, row) hits gives spconv's offset order, outputs ascending.
    """
    M, r = keys.shape[0], kernel // 2
    n_half = (kernel**3 - 1) // 2
    device = keys.device
    if M == 0:
        return torch.empty(2, 0, dtype=torch.int64, device=device), [0] * n_half
    if bool((keys[1:] > keys[:-1]).all()):  # voxelize and coarse scales come sorted
        sorted_keys, order = keys, None
    else:
        sorted_keys, order = torch.sort(keys)
    padded = torch.cat([sorted_keys, sorted_keys.new_full((1,), torch.iinfo(keys.dtype).max)])
    hits = torch.empty(n_half, M, dtype=torch.bool, device=device)
    rows = torch.empty(n_half, M, dtype=torch.int32, device=device)  # int32: half the traffic
    pos = torch.arange(1, M + 1, device=device, dtype=torch.int32)  # the first key > k's row
    lines = [(di, dj) for di in range(0, r + 1) for dj in range(-r, r + 1) if (di, dj) >= (0, 0)]
    offset = 0
    for di, dj in lines:
        if (di, dj) == (0, 0):
            query, steps = sorted_keys + 1, r
        else:
            query, steps = sorted_keys + layout.offset(di, dj, -r), 2 * r + 1
            if dj == -r or device.type not in WALK_DEVICES:
                pos = torch.searchsorted(sorted_keys, query, out_int32=True)
            else:
                pos = _skip(sorted_keys, padded, query, pos)
        for step in range(steps):
            rows[offset] = pos
            torch.eq(_gather(padded, pos), query + step, out=hits[offset])
            pos = pos + hits[offset]
            offset += 1
    offset_id, out = hits.nonzero(as_tuple=True)
    pairs = torch.stack([rows.view(-1).index_select(0, offset_id * M + out).long(), out])
    if order is not None:
        pairs = _gather(order, pairs)
    return pairs, torch.bincount(offset_id, minlength=n_half).tolist()


def _inverse(perm: torch.Tensor) -> torch.Tensor:
    """The inverse of a permutation (n,) int64."""
    # 1-D scatter_ is ~2x faster than index_copy_ on CPU (same result: indices are unique)
    return torch.empty_like(perm).scatter_(0, perm, torch.arange(perm.numel(), device=perm.device))


def _descending(counts: torch.Tensor, most: int) -> torch.Tensor:
    """Position of every row when rows are sorted by ``counts`` (all <= ``most``), largest first
    (stable)."""
    # ascending is faster than descending=True; on CPU int32 keys sort ~4x faster than int64 and
    # uint8 keys (one radix pass) ~3x faster again
    key = (most - counts).to(torch.uint8) if most < 256 else counts.to(torch.int32).neg_()
    return _inverse(torch.argsort(key, stable=True))


def _ranks(outs: Sequence[torch.Tensor], received: torch.Tensor, n_ranks: int,
           pos: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """Ranks of a :class:`ConvMap` whose products ``Y`` have output rows ``cat(outs)``.

    Args:
        outs: output rows of the blocks of ``Y``, in order.
        received: (rows,) products per output row.
        n_ranks: most products one row can receive.
        pos: (rows,) position of each output row in the sorted accumulation; None when the
            output rows are those positions already (rows sorted by ``received``, most first).
    """
    device = received.device
    # m_r = rows receiving more than r products; rank r fills slots start_r .. start_r + m_r - 1
    hist = torch.bincount(received, minlength=n_ranks + 1)
    m = hist.flip(0).cumsum(0).flip(0)[1:n_ranks + 1]  # (n_ranks,)
    start = torch.cat([m.new_zeros(1), m.cumsum(0)[:-1]])
    seen = torch.zeros(received.numel(), dtype=torch.int32, device=device)  # half the traffic
    flat = torch.empty(sum(o.numel() for o in outs), dtype=torch.int64, device=device)
    offset = 0
    for o in outs:  # output rows repeat across blocks, never within one
        r = seen.index_select(0, o)
        seen.scatter_(0, o, r + 1)
        slots = start.index_select(0, r).add_(o if pos is None else pos.index_select(0, o))
        flat.scatter_(0, slots, torch.arange(offset, offset + o.numel(), device=device))
        offset += o.numel()
    return torch.split(flat, m.tolist())


def _subm(keys: torch.Tensor, layout: KeyLayout, kernel: int, relabel: bool
          ) -> tuple[ConvMap, torch.Tensor]:
    """Sub-manifold map and ``pos``: each row's place when sorted by neighbour count, most first.

    relabel: the pairs name rows by that place (the scale moves to network order; perm None);
    else they keep ``keys``' rows and perm is ``pos``.
    """
    n_ranks = kernel**3 - 1
    pairs, sizes = _half_pairs(keys, layout, kernel)
    received = torch.bincount(pairs.view(-1), minlength=keys.shape[0])  # a product per pair end
    pos = _descending(received, n_ranks)
    if relabel:
        pairs = _gather(pos, pairs)
    half = torch.split(pairs, sizes, dim=1)
    outs = [p[i] for p in half for i in (1, 0)]
    ranks = _ranks(outs, received, n_ranks, None if relabel else pos)
    return ConvMap(half, ranks, None if relabel else pos), pos


def _parents(fine: torch.Tensor, layout: KeyLayout
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Coarse keys (sorted), each fine row's coarse row, each fine row's offset 0..7."""
    coarse, inverse = torch.unique(layout.parent(fine), return_inverse=True)
    return coarse, inverse, layout.child_code(fine)


def _down(code: torch.Tensor, coarse_row: torch.Tensor, coarse_rows: int
          ) -> tuple[ConvMap, torch.Tensor]:
    """Down map (8 offsets) and the up index, fine rows in network order."""
    # fine rows grouped by offset, ascending (uint8 keys: one radix pass on CPU)
    by_code = torch.argsort(code.to(torch.uint8), stable=True)
    sizes = torch.bincount(code, minlength=8).tolist()
    fine_rows = torch.split(by_code, sizes)
    pairs = tuple(torch.stack([f, coarse_row.index_select(0, f)]) for f in fine_rows)
    received = torch.bincount(coarse_row, minlength=coarse_rows)  # children per coarse row
    pos = _descending(received, 8)
    ranks = _ranks([p[1] for p in pairs], received, 8, pos)
    return ConvMap(pairs, ranks, pos), _inverse(by_code)  # row of Y per fine row


def build_kernel_maps(
    coords: torch.Tensor,
    levels: int = NUM_LEVELS,
    stem_kernel: int = 3,
    spatial_shape: Sequence[int] | None = None,
) -> KernelMaps:
    """Build every scale's coordinates and every conv's kernel map, in network row order.

    Args:
        coords: (M, 4) int [scan, i, j, k] unique voxels of scale 0, cells >= 0 (any row order).
        levels: stride-2 levels (4 for MinkUNet).
        stem_kernel: odd stem kernel size; maps for it are built when it is not 3.
        spatial_shape: the scale-0 grid of the batch (``SparseBatch.spatial_shape``); when given,
            every cell must lie inside it (spconv would not see the others).

    Returns:
        The maps, on ``coords``' device.
    """
    if coords.ndim != 2 or coords.shape[1] != 4:
        raise ValueError(f"coords must be (M, 4), got {tuple(coords.shape)}")
    if stem_kernel % 2 != 1:
        raise ValueError(f"stem_kernel must be odd, got {stem_kernel}")
    coords = coords.to(torch.int32).contiguous()
    if spatial_shape is not None and coords.shape[0]:
        shape = torch.tensor(list(spatial_shape), device=coords.device)
        if bool((coords[:, 1:] >= shape).any()) or bool((coords < 0).any()):
            raise ValueError(f"coords lie outside spatial_shape {tuple(spatial_shape)}")
    layout = KeyLayout.of(coords, reach=max(1, stem_kernel // 2))
    subm, down, up, scale_coords = [], [], [], []
    keys = layout.pack(*coords.unbind(1))
    fine_code = fine_parent = keys  # set by _parents before the first coarse scale reads them
    for scale in range(levels + 1):
        conv, pos = _subm(keys, layout, 3, relabel=True)  # the scale moves to its network order
        order = _inverse(pos)
        keys = keys.index_select(0, order)
        subm.append(conv)
        if scale == 0:
            first_order, first_keys = order, keys
            scale_coords.append(coords.index_select(0, order))
        else:  # the down map into this scale, with coarse rows in network order
            scale_coords.append(layout.unpack(keys))
            coarse_row = pos.index_select(0, fine_parent)
            down_map, up_index = _down(fine_code, coarse_row, keys.shape[0])
            down.append(down_map)
            up.append(up_index)
        if scale < levels:
            keys, fine_parent, fine_code = _parents(keys, layout)
    stem = None
    if stem_kernel != 3:
        stem = _subm(first_keys, layout, stem_kernel, relabel=False)[0]
    return KernelMaps(coords=tuple(scale_coords), order=first_order, subm=tuple(subm),
                      down=tuple(down), up=tuple(up), stem=stem, stem_kernel=stem_kernel)
