"""Voxel keys: ``[scan, i, j, k]`` cells packed into one integer that sorts like the tuple.

voxelize makes voxels unique by sorting keys; the kernel maps find neighbours by searching them and
build the coarser scales from them. A key is bit fields (scan | i | j | k, high bits first), so
packing and unpacking are shifts and masks, and two things the kernel maps do at every scale are
bit operations too: a neighbour at a cell offset is an addition (:meth:`KeyLayout.offset`; each
cell field has room for the largest cell plus ``reach``, so an offset never carries into the next
field, and a cell pushed past either end lands on a field value no voxel has), and a cell's parent
``floor(cell / 2)`` with its place inside the parent is a shift (:meth:`KeyLayout.parent`,
:meth:`KeyLayout.child_code`). Keys are int32 when the fields fit in 30 bits (sorts and searches
move half the bytes), else int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["KeyLayout"]


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """Where each field of a key starts (bit shifts; k starts at bit 0) and the key dtype."""

    j: int  # bit shift of the j field (= bits of k)
    i: int  # bit shift of the i field
    scan: int  # bit shift of the scan field
    dtype: torch.dtype

    @staticmethod
    def for_extent(most: tuple[int, int, int, int], reach: int = 0) -> KeyLayout:
        """Layout for cells [scan, i, j, k] from 0 up to ``most``, offsets up to ``reach``."""
        if min(most) < 0 or reach < 0:
            raise ValueError(f"cells and reach must be >= 0, got most={most}, reach={reach}")
        bits = [(int(c) + reach).bit_length() for c in most[1:]]
        j, i = bits[2], bits[2] + bits[1]
        scan = i + bits[0]
        total = scan + int(most[0]).bit_length()
        if total > 62:
            raise ValueError(f"a key of cells up to {tuple(most)} needs {total} bits (at most 62)")
        return KeyLayout(j, i, scan, torch.int32 if total <= 30 else torch.int64)

    @staticmethod
    def of(coords: torch.Tensor, reach: int = 0) -> KeyLayout:
        """Layout for (M, 4) int coords [scan, i, j, k] (cells >= 0), offsets up to ``reach``."""
        scan, i, j, k = (int(v) for v in coords.amax(dim=0).tolist()) if coords.shape[0] \
            else (0, 0, 0, 0)
        return KeyLayout.for_extent((scan, i, j, k), reach)

    def pack(self, scan: torch.Tensor, i: torch.Tensor, j: torch.Tensor, k: torch.Tensor
             ) -> torch.Tensor:
        """Keys of cells given as columns (any int dtype, same shape)."""
        t = self.dtype
        return (scan.to(t) << self.scan) | (i.to(t) << self.i) | (j.to(t) << self.j) | k.to(t)

    def unpack(self, keys: torch.Tensor) -> torch.Tensor:
        """(M,) keys -> (M, 4) int32 coords [scan, i, j, k]."""
        fields = [keys >> self.scan, (keys >> self.i) & ((1 << (self.scan - self.i)) - 1),
                  (keys >> self.j) & ((1 << (self.i - self.j)) - 1), keys & ((1 << self.j) - 1)]
        return torch.stack(fields, dim=1).to(torch.int32)

    def offset(self, di: int, dj: int, dk: int) -> int:
        """Key difference of the neighbour at cell offset (di, dj, dk), each within ``reach``."""
        return (di << self.i) + (dj << self.j) + dk

    def parent(self, keys: torch.Tensor) -> torch.Tensor:
        """Keys of ``floor(cell / 2)``: each cell field shifted right, its low bit dropped.

        Needs a layout with ``reach >= 1`` (every cell field at least one bit wide).
        """
        cells = (1 << self.scan) - 1
        spill = (1 << (self.j - 1)) | (1 << (self.i - 1))  # low bits of i and j, shifted down
        return ((keys & cells) >> 1) & ~spill | (keys & ~cells)

    def child_code(self, keys: torch.Tensor) -> torch.Tensor:
        """Place of each cell inside its parent, ``4 (i % 2) + 2 (j % 2) + k % 2``."""
        return ((keys >> self.i) & 1) << 2 | ((keys >> self.j) & 1) << 1 | (keys & 1)
