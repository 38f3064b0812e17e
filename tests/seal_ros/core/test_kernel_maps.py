"""Kernel maps against a brute-force Python dict, and coarse sites against spconv's.

Reference: every pair enumerated by looping over voxels and offsets with a dict of coordinates;
integer results, so the comparison is exact. Ranks are checked by the sums they stand for: every
(output row, product) pair exactly once, rank r on rows 0 .. m_r - 1.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from seal_ros.core import kernel_maps
from seal_ros.core.kernel_maps import (
    ConvMap,
    KernelMaps,
    build_kernel_maps,
    grid_shape,
    spconv_spatial_shapes,
)


def _random_coords(seed: int, M: int = 300, side: int = 12, scans: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, side, (M, 3), generator=gen)
    scan = torch.randint(0, scans, (M, 1), generator=gen)
    coords = torch.unique(torch.cat([scan, cells], 1), dim=0)
    return coords[torch.randperm(coords.shape[0], generator=gen)].int()  # any row order


def _pairs_set(in_idx: torch.Tensor, out_idx: torch.Tensor) -> set[tuple[int, int]]:
    return set(zip(in_idx.tolist(), out_idx.tolist(), strict=True))


def _brute_subm(coords: torch.Tensor, kernel: int) -> list[set[tuple[int, int]]]:
    rows = {tuple(c): i for i, c in enumerate(coords.tolist())}
    r = kernel // 2
    out = []
    for d in itertools.product(range(-r, r + 1), repeat=3):
        pairs = set()
        for (b, i, j, k), o in rows.items():
            n = rows.get((b, i + d[0], j + d[1], k + d[2]))
            if n is not None:
                pairs.add((n, o))
        out.append(pairs)
    return out


def _brute_down(coords: torch.Tensor, coarse: torch.Tensor) -> list[set[tuple[int, int]]]:
    parents = {tuple(c): i for i, c in enumerate(coarse.tolist())}
    out: list[set[tuple[int, int]]] = [set() for _ in range(8)]
    for f, (b, i, j, k) in enumerate(coords.tolist()):
        p = parents[(b, i // 2, j // 2, k // 2)]
        out[(i % 2) * 4 + (j % 2) * 2 + k % 2].add((f, p))
    return out


def _sums(conv: ConvMap, outs: list[torch.Tensor], rows: int) -> set[tuple[int, int]]:
    """(output row, product row) pairs the ranks add; checks the prefix layout on the way."""
    sizes = [int(t.numel()) for t in conv.ranks]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] <= rows
    perm = torch.arange(rows) if conv.perm is None else conv.perm
    assert sorted(perm.tolist()) == list(range(rows))
    row_of = torch.empty(rows, dtype=torch.int64)
    row_of[perm] = torch.arange(rows)  # accumulation row -> output row
    got = {(int(row_of[i]), int(y)) for t in conv.ranks for i, y in enumerate(t.tolist())}
    assert len(got) == sum(sizes)  # no (row, product) twice
    expect = set(zip(torch.cat(outs).tolist(), range(sum(int(o.numel()) for o in outs)),
                     strict=True))
    assert got == expect
    return got


def _assert_subm_like_brute_force(maps: KernelMaps) -> None:
    """Every scale's 3x3x3 pairs, and the stem's when it is not 3, equal the dict's."""
    for s, coords in enumerate(maps.coords):
        assert [_pairs_set(i, o) for i, o in maps.subm_pairs(s)] == _brute_subm(coords, 3)
    if maps.stem_kernel != 3:
        assert [_pairs_set(i, o) for i, o in maps.subm_pairs(0, kernel=maps.stem_kernel)] == \
            _brute_subm(maps.coords[0], maps.stem_kernel)


@pytest.mark.parametrize("seed", [0, 1])
def test_maps_equal_brute_force(seed: int) -> None:
    coords = _random_coords(seed)
    maps = build_kernel_maps(coords)
    assert isinstance(maps, KernelMaps) and len(maps.coords) == 5
    assert sorted(maps.order.tolist()) == list(range(coords.shape[0]))
    assert torch.equal(maps.coords[0], coords[maps.order])
    for s in range(5):
        c = maps.coords[s]
        if s:  # unique(floor(coord / 2)) per scan, in network order
            prev = maps.coords[s - 1].long()
            expect = torch.unique(torch.cat([prev[:, :1], prev[:, 1:] // 2], 1), dim=0)
            assert torch.equal(torch.unique(c.long(), dim=0), expect) and len(c) == len(expect)
            assert [_pairs_set(*p) for p in maps.down_pairs(s)] == _brute_down(prev, c)
            assert [_pairs_set(*p) for p in maps.up_pairs(s)] == [
                {(o, i) for i, o in pairs} for pairs in _brute_down(prev, c)]
            down = maps.down[s - 1]
            _sums(down, [p[1] for p in down.pairs], len(c))
            fine = torch.cat([p[0] for p in down.pairs])  # rows of the down/up products
            assert torch.equal(fine[maps.up[s - 1]], torch.arange(len(prev)))
        got = [_pairs_set(i, o) for i, o in maps.subm_pairs(s)]
        assert got == _brute_subm(c, 3)
        for i, o in maps.subm_pairs(s):  # within one offset no output row repeats
            assert i.dtype == o.dtype == torch.int64
            assert o.unique().numel() == o.numel()
        conv = maps.subm[s]
        assert conv.perm is None and len(conv.pairs) == 13 and len(conv.ranks) == 26
        _sums(conv, [p[i] for p in conv.pairs for i in (1, 0)], len(c))
        neighbours = torch.bincount(torch.cat([p.reshape(-1) for p in conv.pairs]),
                                    minlength=len(c))
        assert torch.all(neighbours[:-1] >= neighbours[1:])  # network order: most first
    counts = maps.counts
    assert counts["voxels0"] == coords.shape[0]
    assert counts["subm0"] == sum(len(p) for p in _brute_subm(coords, 3))
    assert counts["down1"] == coords.shape[0]


@pytest.mark.parametrize("far", [(6, 14, 30), (2**20, 2**19, 60)])
def test_maps_at_the_key_field_limits(far: tuple[int, int, int]) -> None:
    """Blocks at cell 0 and at the far corner of every axis, two scans: offsets that leave a field
    at either end must find nothing (int32 keys for the small grid, int64 for the huge one)."""
    gen = torch.Generator().manual_seed(5)
    block = torch.randint(0, 3, (120, 3), generator=gen)
    corner = torch.tensor(far) - 2
    cells = torch.cat([block, corner + block])
    scans = torch.randint(0, 2, (cells.shape[0], 1), generator=gen)
    coords = torch.unique(torch.cat([scans, cells], 1), dim=0).int()
    assert int(coords[:, 1:].amin()) == 0 and coords[:, 1:].amax(0).tolist() == list(far)
    for stem in (3, 5):
        maps = build_kernel_maps(coords.flip(0), stem_kernel=stem)
        _assert_subm_like_brute_force(maps)
        for s in range(1, 5):
            assert [_pairs_set(*p) for p in maps.down_pairs(s)] == _brute_down(
                maps.coords[s - 1].long(), maps.coords[s])


@pytest.mark.parametrize("height", [1, 2, 3])
def test_flat_clouds(height: int) -> None:
    """A cloud 1-3 cells high: the k field is at its narrowest, and a column's line of cells
    ends close to where the next column's starts."""
    gen = torch.Generator().manual_seed(height)
    cells = torch.cat([torch.randint(0, 10, (400, 2), generator=gen),
                       torch.randint(0, height, (400, 1), generator=gen)], 1)
    coords = torch.unique(torch.cat([torch.zeros(400, 1, dtype=torch.int64), cells], 1), dim=0)
    for stem in (3, 5):
        _assert_subm_like_brute_force(build_kernel_maps(coords.flip(0).int(), stem_kernel=stem))


def test_stem_kernel_5() -> None:
    coords = _random_coords(3, M=150, side=8, scans=1)
    maps = build_kernel_maps(coords, stem_kernel=5)
    assert maps.stem is not None and len(maps.stem.pairs) == 62 and len(maps.stem.ranks) == 124
    got = [_pairs_set(i, o) for i, o in maps.subm_pairs(0, kernel=5)]
    assert got == _brute_subm(maps.coords[0], 5)
    _sums(maps.stem, [p[i] for p in maps.stem.pairs for i in (1, 0)], len(coords))


def test_odd_grid_edge_keeps_every_voxel_like_spconv() -> None:
    spconv = pytest.importorskip("spconv.pytorch")
    from spconv.core import ConvAlgo  # native: the CUDA build's default refuses host tensors

    import seal_ros.core.minkunet  # noqa: F401  (spconv CPU fixes)

    coords = _random_coords(4, M=400, side=17, scans=2).contiguous()
    shape = (17, 17, 17)
    assert int(coords[:, 1:].max()) == 16  # voxels in the last cell of an odd axis
    assert grid_shape(shape) == (32, 32, 32)
    assert spconv_spatial_shapes(shape)[1:] == [(16,) * 3, (8,) * 3, (4,) * 3, (2,) * 3]
    maps = build_kernel_maps(coords, spatial_shape=shape)
    assert maps.counts["down1"] == coords.shape[0]  # every voxel has a parent
    x = spconv.SparseConvTensor(torch.zeros(coords.shape[0], 1), coords, list(grid_shape(shape)),
                                2)
    conv = spconv.SparseConv3d(1, 1, 2, stride=2, bias=False, algo=ConvAlgo.Native)
    for level in range(1, 5):
        x = conv(x)
        got = torch.unique(x.indices.long(), dim=0)
        assert torch.equal(got, torch.unique(maps.coords[level].long(), dim=0)), level
    with pytest.raises(ValueError, match="outside spatial_shape"):
        build_kernel_maps(coords, spatial_shape=(16, 17, 17))


@pytest.mark.parametrize("stem", [3, 5])
def test_searched_lines_give_the_walked_maps(stem: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA searches every line (``WALK_DEVICES``); here both ways run on the CPU."""
    coords = _random_coords(5, M=3000, side=24, scans=2)
    walked = build_kernel_maps(coords, stem_kernel=stem)
    monkeypatch.setattr(kernel_maps, "WALK_DEVICES", ())
    searched = build_kernel_maps(coords, stem_kernel=stem)
    for maps in (walked, searched):
        assert maps.stem_kernel == stem and (maps.stem is None) == (stem == 3)

    def flat(maps: KernelMaps) -> list[torch.Tensor]:
        convs = [*maps.subm, *maps.down, *([] if maps.stem is None else [maps.stem])]
        return [*maps.coords, maps.order, *maps.up, *(t for c in convs for t in c.tensors())]

    a, b = flat(walked), flat(searched)
    assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_empty_and_device_move() -> None:
    maps = build_kernel_maps(torch.zeros(0, 4, dtype=torch.int32))
    assert all(c.shape[0] == 0 for c in maps.coords)
    moved = maps.to("cpu")
    assert moved.counts == maps.counts


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="coords must be"):
        build_kernel_maps(torch.zeros(3, 3, dtype=torch.int32))
    with pytest.raises(ValueError, match="odd"):
        build_kernel_maps(torch.zeros(1, 4, dtype=torch.int32), stem_kernel=4)
