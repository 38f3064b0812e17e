"""Bit-field voxel keys against the coordinate arithmetic they stand for."""

from __future__ import annotations

import pytest
import torch

from seal_ros.core.voxel_keys import KeyLayout


def _coords(most: tuple[int, int, int, int], n: int = 4000, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    cols = [torch.randint(0, m + 1, (n,), generator=gen) for m in most]
    coords = torch.stack(cols, 1)
    coords[0] = torch.tensor(most)  # both ends of every field present
    coords[1] = 0
    return torch.unique(coords, dim=0)  # sorted (scan, i, j, k)


@pytest.mark.parametrize("most, dtype", [((1, 500, 700, 40), torch.int32),
                                         ((3, 2**20, 2**18, 100), torch.int64)])
def test_pack_sorts_like_the_tuple_and_round_trips(most: tuple[int, int, int, int],
                                                   dtype: torch.dtype) -> None:
    coords = _coords(most)
    layout = KeyLayout.of(coords, reach=1)
    keys = layout.pack(*coords.unbind(1))
    assert layout.dtype == keys.dtype == dtype
    assert bool((keys[1:] > keys[:-1]).all())  # unique and in (scan, i, j, k) order
    assert torch.equal(layout.unpack(keys), coords.int())


@pytest.mark.parametrize("reach", [1, 2])
def test_offsets_parents_and_child_codes(reach: int) -> None:
    most = (1, 13, 6, 30)
    coords = _coords(most, seed=reach)
    layout = KeyLayout.of(coords, reach=reach)
    keys = layout.pack(*coords.unbind(1))
    real = set(keys.tolist())
    for d in [(0, 0, 1), (1, -1, -1), (-reach, reach, 0), (0, -reach, reach), (reach, 0, -reach)]:
        moved = coords.clone()
        moved[:, 1:] += torch.tensor(d)
        inside = ((moved[:, 1:] >= 0) & (moved[:, 1:] <= torch.tensor(most[1:]))).all(1)
        shifted = keys + layout.offset(*d)
        # inside the grid: the key of the moved cell; outside: a key no voxel has
        assert torch.equal(shifted[inside], layout.pack(*moved[inside].unbind(1)))
        assert not real & set(shifted[~inside].tolist())
    parent = coords.clone()
    parent[:, 1:] //= 2
    assert torch.equal(layout.parent(keys), layout.pack(*parent.unbind(1)))
    code = 4 * (coords[:, 1] % 2) + 2 * (coords[:, 2] % 2) + coords[:, 3] % 2
    assert torch.equal(layout.child_code(keys).long(), code)


def test_too_many_bits_and_negative_cells_are_refused() -> None:
    with pytest.raises(ValueError, match="needs 63 bits"):
        KeyLayout.for_extent((0, 2**21 - 2, 2**21 - 2, 2**21 - 2), reach=1)
    with pytest.raises(ValueError, match=">= 0"):
        KeyLayout.for_extent((0, -1, 3, 3))
