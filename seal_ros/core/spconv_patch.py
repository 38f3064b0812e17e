"""Neutralise two defects of spconv 2.3.x's CPU path (DESIGN.md decision 1).

Both fixes rebind one name inside ``spconv.pytorch.ops`` and leave spconv's own classes alone;
:func:`apply_spconv_cpu_fixes` runs on ``import seal_ros.core.minkunet`` (and so on ``import
seal_train.models``). It is idempotent.

Defect A: backward needs CUDA.
    ``spconv.pytorch.ops.indice_conv_backward`` always calls ``get_current_stream()`` (the
    ``stream = get_current_stream()`` line after the sub-manifold shortcut), which runs
    ``torch.cuda.current_stream()``. On a CPU-only torch that raises ``AssertionError: Torch not
    compiled with CUDA enabled``; on a CUDA build of torch with no GPU, like the dev machine, it
    raises ``RuntimeError: Found no NVIDIA driver``. Every 3x3x3 sparse conv (SubM, strided,
    inverse) crashes in backward. The stream value is only used on CUDA tensors.
    Fix: when ``torch.cuda.is_available()`` is False, ``ops.get_current_stream`` becomes a function
    that returns stream 0 (what spconv passes itself for CPU tensors), checked again at each call.

Defect B: wrong, nondeterministic gather-GEMM-scatter with more than one torch thread.
    The CPU loop of ``indice_conv`` / ``indice_conv_backward`` calls ``SpconvOps.gather_cpu`` and
    ``SpconvOps.scatter_add_cpu`` (C++ ``GatherCPU`` in ``spconv/csrc/sparse/gather.py``). Their
    OpenMP kernels run on torch's intra-op thread pool; ``scatter_add`` keeps its row pointers
    (``buf``, ``out_ptr``) in variables shared by all threads, so threads add each other's rows.
    ``torch.set_num_threads(1)`` hides it; ``OMP_NUM_THREADS=1`` does not. ``gather`` measured
    correct here, but it shares the same threading and is replaced too (it costs nothing).
    Fix: ``ops.SpconvOps`` becomes a proxy whose ``gather_cpu`` / ``scatter_add_cpu`` run
    ``torch.index_select`` / ``Tensor.index_add_`` on zero-copy torch views of the same buffers;
    every other ``SpconvOps`` member is forwarded unchanged. Within one kernel offset no output row
    repeats, so ``index_add_`` is exact. ``index_add_`` is fine here (training, eager only); the
    exported network never uses it (DESIGN.md decision 2).

Hazard C (found while writing the tests): kernel maps silently wrong for strided coordinates.
    ``torch_tensor_to_tv`` passes the strides of the coordinate tensor, but the CPU kernel-map code
    (``SpconvOps.get_indice_pairs``) reads it as row-major. On this torch, ``Tensor.nonzero()``
    returns a column-major (N, 4) tensor, so ``grid.nonzero().int()`` gives wrong neighbours and
    no error. Fix: ``ops.get_indice_pairs`` makes the coordinates contiguous first (a no-op when
    they already are).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["SpconvFixes", "apply_spconv_cpu_fixes", "spconv_cpu_fixes"]

_log = logging.getLogger(__name__)
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class SpconvFixes:
    """Which spconv CPU fixes are active in this process.

    Attributes:
        backward_stream: defect A fixed (``ops.get_current_stream`` is CUDA-free without CUDA).
        gather_scatter: defect B fixed (``ops.SpconvOps`` gathers/scatters with torch on CPU).
        contiguous_indices: hazard C fixed (``ops.get_indice_pairs`` makes coordinates contiguous).
    """

    backward_stream: bool
    gather_scatter: bool
    contiguous_indices: bool


def _tv_as_torch(tensor: Any) -> torch.Tensor:
    """Zero-copy torch view of a host ``cumm.tensorview.Tensor`` (same memory, same dtype)."""
    return torch.from_numpy(tensor.numpy_view())


def _gather_cpu(out: Any, inp: Any, inds: Any) -> None:
    """``out[:n] = inp[inds]``, n = len(inds); ``out`` (M>=n, C), ``inp`` (N, C), ``inds`` int32."""
    index = _tv_as_torch(inds)  # (n,) int32
    out_t = _tv_as_torch(out)  # (M, C), M >= n
    torch.index_select(_tv_as_torch(inp), 0, index, out=out_t[: index.shape[0]])


def _scatter_add_cpu(out: Any, inp: Any, inds: Any) -> None:
    """``out[inds] += inp[:n]``, ``out`` (N, C), ``inp`` (M>=n, C), ``inds`` (n,) int32, unique."""
    index = _tv_as_torch(inds)  # (n,) int32
    _tv_as_torch(out).index_add_(0, index, _tv_as_torch(inp)[: index.shape[0]])


class _SpconvOpsCPUFix:
    """Stands in for ``SpconvOps`` inside ``spconv.pytorch.ops`` (defect B)."""

    gather_cpu = staticmethod(_gather_cpu)
    scatter_add_cpu = staticmethod(_scatter_add_cpu)

    def __init__(self, original: Any) -> None:
        self.original = original

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _CPUSafeCurrentStream:
    """Stands in for ``get_current_stream`` inside ``spconv.pytorch.ops`` (defect A)."""

    def __init__(self, original: Callable[[], int]) -> None:
        self.original = original

    def __call__(self) -> int:
        if not torch.cuda.is_available():
            return 0  # spconv's own value for host tensors; unused on the CPU path
        return self.original()


class _ContiguousIndicePairs:
    """Stands in for ``get_indice_pairs`` inside ``spconv.pytorch.ops`` (hazard C)."""

    def __init__(self, original: Callable[..., Any]) -> None:
        self.original = original

    def __call__(self, indices: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        return self.original(indices.contiguous(), *args, **kwargs)


def spconv_cpu_fixes() -> SpconvFixes:
    """Report which fixes are active, without changing anything."""
    from spconv.pytorch import ops

    return SpconvFixes(
        backward_stream=isinstance(ops.get_current_stream, _CPUSafeCurrentStream),
        gather_scatter=isinstance(ops.SpconvOps, _SpconvOpsCPUFix),
        contiguous_indices=isinstance(ops.get_indice_pairs, _ContiguousIndicePairs),
    )


def apply_spconv_cpu_fixes() -> SpconvFixes:
    """Install the fixes that this machine needs; calling it again changes nothing.

    Defect B's fix and the hazard C guard are always installed (B only touches host tensors; CUDA
    tensors never reach ``gather_cpu``). Defect A's fix is installed only when
    ``torch.cuda.is_available()`` is False.

    Returns:
        Which fixes are active afterwards.
    """
    from spconv.pytorch import ops

    with _lock:
        if not isinstance(ops.SpconvOps, _SpconvOpsCPUFix):
            ops.SpconvOps = _SpconvOpsCPUFix(ops.SpconvOps)
            _log.debug("spconv: CPU gather/scatter replaced by torch index_select/index_add_")
        if not torch.cuda.is_available() and not isinstance(
            ops.get_current_stream, _CPUSafeCurrentStream
        ):
            ops.get_current_stream = _CPUSafeCurrentStream(ops.get_current_stream)
            _log.debug("spconv: no CUDA, backward uses stream 0")
        if not isinstance(ops.get_indice_pairs, _ContiguousIndicePairs):
            ops.get_indice_pairs = _ContiguousIndicePairs(ops.get_indice_pairs)
    return spconv_cpu_fixes()
