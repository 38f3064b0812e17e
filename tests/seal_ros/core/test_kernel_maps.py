"""Kernel maps against a brute-force Python dict, and coarse sites against spconv's.

Reference: every pair enumerated by looping over voxels and offsets with a dict of coordinates;
integer results, so the comparison is exact.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from seal_ros.core.kernel_maps import KernelMaps, build_kernel_maps, spconv_spatial_shapes


def _random_coords(seed: int, M: int = 300, side: int = 12, scans: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, side, (M, 3), generator=gen)
    scan = torch.randint(0, scans, (M, 1), generator=gen)
    coords = torch.unique(torch.cat([scan, cells], 1), dim=0)
    return coords[torch.randperm(coords.shape[0], generator=gen)].int()  # any row order


def _pairs_set(in_idx: torch.Tensor, out_idx: torch.Tensor) -> set[tuple[int, int]]:
    return set(zip(in_idx.tolist(), out_idx.tolist()))


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


@pytest.mark.parametrize("seed", [0, 1])
def test_maps_equal_brute_force(seed: int) -> None:
    coords = _random_coords(seed)
    maps = build_kernel_maps(coords)
    assert isinstance(maps, KernelMaps) and len(maps.coords) == 5
    assert torch.equal(maps.coords[0], coords)
    for s in range(5):
        c = maps.coords[s]
        if s:  # unique(floor(coord / 2)) per scan, sorted
            prev = maps.coords[s - 1].long()
            expect = torch.unique(torch.cat([prev[:, :1], prev[:, 1:] // 2], 1), dim=0)
            assert torch.equal(c.long(), expect)
            assert [_pairs_set(*p) for p in maps.down_pairs(s)] == _brute_down(prev, c)
            assert [_pairs_set(*p) for p in maps.up_pairs(s)] == [
                {(o, i) for i, o in pairs} for pairs in _brute_down(prev, c)]
        got = [_pairs_set(i, o) for i, o in maps.subm_pairs(s)]
        assert got == _brute_subm(c, 3)
        for i, o in maps.subm_pairs(s):  # within one offset no output row repeats
            assert i.dtype == o.dtype == torch.int64
            assert o.unique().numel() == o.numel()
    counts = maps.counts
    assert counts["voxels0"] == coords.shape[0]
    assert counts["subm0"] == sum(len(p) for p in _brute_subm(coords, 3))
    assert counts["down1"] == coords.shape[0]


def test_stem_kernel_5() -> None:
    coords = _random_coords(3, M=150, side=8, scans=1)
    maps = build_kernel_maps(coords, stem_kernel=5)
    assert maps.stem is not None and len(maps.stem) == 62
    got = [_pairs_set(i, o) for i, o in maps.subm_pairs(0, kernel=5)]
    assert got == _brute_subm(coords, 5)


def test_odd_grid_edge_drops_like_spconv() -> None:
    spconv = pytest.importorskip("spconv.pytorch")
    import seal_ros.core.minkunet  # noqa: F401  (spconv CPU fixes)

    coords = _random_coords(4, M=400, side=17, scans=2).contiguous()
    shape = (17, 17, 17)
    maps = build_kernel_maps(coords, spatial_shape=shape)
    assert spconv_spatial_shapes(shape)[1] == (8, 8, 8)  # (17 - 2) // 2 + 1
    assert maps.counts["down1"] < coords.shape[0]  # cells at index 16 have no parent in spconv
    x = spconv.SparseConvTensor(torch.zeros(coords.shape[0], 1), coords, list(shape), 2)
    conv = spconv.SparseConv3d(1, 1, 2, stride=2, bias=False)
    for level in range(1, 5):
        x = conv(x)
        got = x.indices.long()
        assert torch.equal(torch.unique(got, dim=0), maps.coords[level].long()), level


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
