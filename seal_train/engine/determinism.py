"""Deterministic mode (``deterministic: true``): same-seed CPU runs equal bit for bit.

What made same-seed CPU runs differ, found by repeating one step from the same state
(benchmarks/RESULTS.md, "Deterministic mode"): the backward of advanced indexing (``x[index]``:
the voxel-to-point map, the pairing's point picks) is ``index_put_(accumulate=True)``, which torch
runs on its intra-op threads with atomic float adds. The order of the adds, and so the rounding,
follows the threads' timing, which a loaded machine varies: one step's gradients differ by ~5e-8,
the weights after 12 steps by ~0.04. One thread, or ``torch.use_deterministic_algorithms(True)``
(which sorts the indices and adds in order), makes it repeat exactly; the latter keeps the
threads. Forward passes, matrix products, reductions, oneDNN convolutions and the spconv kernel
maps repeated exactly already; data-loader workers hand batches over in sampler order and the
datasets draw from (seed, epoch, index) generators, so worker timing and seeds do not matter.
Runs with another intra-op thread count round differently (1 vs 2 threads), so the mode logs it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["deterministic_mode"]

log = logging.getLogger(__name__)


@contextmanager
def deterministic_mode(enabled: bool, device: torch.device) -> Iterator[None]:
    """Within the block, torch's deterministic algorithms (and cuDNN's) when ``enabled``; the
    settings before are back afterwards, so a run in a test or a notebook leaves no trace.

    On CUDA the settings are made too, but torch only warns about ops without a deterministic
    kernel, and spconv's own CUDA kernels accumulate with atomics: CUDA runs come closer, not
    equal.
    """
    if not enabled:
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    cuda = device.type == "cuda"
    if cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts
        log.warning("deterministic=true on CUDA: spconv's CUDA kernels add with atomics, so runs "
                    "are not bit-identical there; on CPU they are")
    torch.use_deterministic_algorithms(True, warn_only=cuda)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    log.info("deterministic mode: torch's deterministic algorithms on, %d intra-op threads",
             torch.get_num_threads())
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
