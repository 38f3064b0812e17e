"""Global batches that split identically over processes or micro-batches.

Each epoch shuffles with a generator seeded by (seed, epoch). Step s takes the slice
``perm[s * B : (s + 1) * B]`` of the global batch size B; part r of W gets the contiguous
sub-slice r. So rank r of a W-process run sees exactly micro-batch r of a single process that
splits its batch into W micro-batches: the two runs train on the same data in the same groups.
A run resumed mid-epoch starts the epoch's order at its next step (:meth:`set_start`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from seal_ros.errors import ConfigError


class GlobalBatchSampler:
    """Batch sampler (yields index lists) for one part of W; usable as ``batch_sampler``."""

    def __init__(self, size: int, global_batch: int, part: int = 0, parts: int = 1, seed: int = 0,
                 shuffle: bool = True) -> None:
        if global_batch % parts:
            raise ConfigError(f"batch size {global_batch} does not split into {parts} parts")
        if size < global_batch:
            raise ConfigError(f"{size} samples are fewer than one batch of {global_batch}")
        self.size, self.global_batch, self.part, self.parts = size, global_batch, part, parts
        self.seed, self.shuffle = seed, shuffle
        self.epoch = self.start = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def set_start(self, step: int) -> None:
        """Iterations yield the epoch's batches from ``step`` on (0: all), without loading the
        ones before."""
        self.start = step

    def __len__(self) -> int:
        return self.size // self.global_batch  # incomplete last batch dropped, every epoch alike

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            perm = torch.randperm(self.size, generator=gen).tolist()
        else:
            perm = list(range(self.size))
        local = self.global_batch // self.parts
        for step in range(self.start, len(self)):
            start = step * self.global_batch + self.part * local
            yield perm[start:start + local]
