"""spconv CPU fixes: spconv layers against dense ``F.conv3d`` / ``F.conv_transpose3d`` at 2 threads.

Reference: the sparse input scattered into a dense grid, the same weights permuted from spconv's
``[out, kD, kH, kW, in]`` to torch's layouts. Tolerance: float64 sums of at most 27 * 6 products of
unit normals agree to ~1e-15; 1e-10 leaves room for different summation orders. float32: 1e-5.
Errors are divided by max(1, max |reference|): weight gradients sum over ~600 sites.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import seal_ros.core.minkunet  # noqa: F401  (installs the fixes)
from seal_ros.core.spconv_patch import (
    SpconvFixes,
    apply_spconv_cpu_fixes,
    spconv_cpu_fixes,
)

spconv = pytest.importorskip("spconv.pytorch")
from spconv.core import ConvAlgo  # noqa: E402
from spconv.core_cc.csrc.sparse.all import SpconvOps as OriginalSpconvOps  # noqa: E402
from spconv.pytorch import ops  # noqa: E402
from spconv.pytorch.cppcore import get_current_stream as original_get_current_stream  # noqa: E402
from spconv.pytorch.cppcore import torch_tensor_to_tv  # noqa: E402

B, S, C_IN, C_OUT = 2, 10, 5, 6  # batches, grid side (voxels), channels: C_IN != C_OUT != 3
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
# The tests run on host tensors, where the fixes act. spconv's CUDA build defaults every layer to
# implicit GEMM, which refuses host tensors; the native algorithm is the CPU build's own and what
# MinkUNet switches to for host inputs (MinkUNet._match_conv_algo).
HOST = {"algo": ConvAlgo.Native}


pytestmark = pytest.mark.usefixtures("two_threads")  # tests/seal_ros/core/conftest.py


def _random_sites(seed: int, occupancy: float = 0.3) -> torch.Tensor:
    """(N, 4) int32 row-major [batch, z, y, x] of a random B x S^3 occupancy grid."""
    gen = torch.Generator().manual_seed(seed)
    occupied = torch.rand(B, S, S, S, generator=gen) < occupancy
    return occupied.nonzero().int().contiguous()  # nonzero() is column-major on this torch


def _to_dense(features: torch.Tensor, coords: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """(N, C) features at (N, 4) coords -> (B, C, D, H, W) dense grid, differentiable."""
    N, C = features.shape
    grid = features.new_zeros(B, *shape, C)
    b, z, y, x = coords.long().unbind(1)
    grid = grid.index_put((b, z, y, x), features)  # (B, D, H, W, C)
    return grid.permute(0, 4, 1, 2, 3)


def _at(dense: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """(B, C, D, H, W) dense grid -> (N, C) values at (N, 4) coords."""
    b, z, y, x = coords.long().unbind(1)
    return dense.permute(0, 2, 3, 4, 1)[b, z, y, x]


def _run_layer(
    kind: str, dtype: torch.dtype, seed: int = 0, k: int = 3
) -> dict[str, torch.Tensor]:
    """One spconv layer and its dense reference; returns outputs and gradients of both.

    ``k`` is the kernel of the strided conv (3 with padding 1, or 2 with padding 0 as MinkUNet).
    """
    pad = (k - 1) // 2
    gen = torch.Generator().manual_seed(seed)
    coords = _random_sites(seed)
    N = coords.shape[0]
    if kind == "subm":
        layer = spconv.SubMConv3d(C_IN, C_OUT, 3, padding=1, bias=False, indice_key="s", **HOST)
    elif kind == "down":
        layer = spconv.SparseConv3d(C_IN, C_OUT, k, stride=2, padding=pad, bias=False,
                                    indice_key="d", **HOST)
    else:  # inverse of a stride-2 conv: runs a down conv first to get its kernel map
        down = spconv.SparseConv3d(C_OUT, C_IN, k, stride=2, padding=pad, bias=False,
                                   indice_key="d", **HOST)
        layer = spconv.SparseInverseConv3d(C_IN, C_OUT, k, indice_key="d", bias=False, **HOST)
        down = down.to(dtype)
    layer = layer.to(dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen, dtype=dtype))
    weight_ref = layer.weight.detach().clone().requires_grad_(True)

    if kind == "inverse":
        x0 = spconv.SparseConvTensor(
            torch.zeros(N, C_OUT, dtype=dtype), coords, [S, S, S], B
        )
        coarse = down(x0)  # kernel map "d" and the coarse sites
        in_coords, in_shape = coarse.indices, list(coarse.spatial_shape)
    else:
        in_coords, in_shape = coords, [S, S, S]
    feats = torch.randn(in_coords.shape[0], C_IN, generator=gen, dtype=dtype)
    feats_sp = feats.clone().requires_grad_(True)
    feats_ref = feats.clone().requires_grad_(True)

    if kind == "inverse":
        out = layer(coarse.replace_feature(feats_sp))
    else:
        out = layer(spconv.SparseConvTensor(feats_sp, in_coords, in_shape, B))

    dense_in = _to_dense(feats_ref, in_coords, in_shape)
    if kind == "subm":
        ref = _at(F.conv3d(dense_in, weight_ref.permute(0, 4, 1, 2, 3), padding=1), coords)
        got = out.features
        assert torch.equal(out.indices, coords)
    elif kind == "down":
        ref = F.conv3d(dense_in, weight_ref.permute(0, 4, 1, 2, 3), stride=2, padding=pad)
        got = out.dense()  # (B, C_OUT, 5, 5, 5); inactive sites are 0 in both
    else:
        # conv_transpose3d weight is (in, out, kD, kH, kW); spconv's inverse conv needs no flip
        D = in_shape[0]
        output_padding = S - ((D - 1) * 2 - 2 * pad + k)
        full = F.conv_transpose3d(
            dense_in, weight_ref.permute(4, 0, 1, 2, 3), stride=2, padding=pad,
            output_padding=output_padding,
        )
        ref = _at(full, coords)
        got = out.features
        assert torch.equal(out.indices, coords)
    upstream = torch.randn(got.shape, generator=gen, dtype=dtype)
    (got * upstream).sum().backward()
    (ref * upstream).sum().backward()
    assert layer.weight.grad is not None and feats_sp.grad is not None
    return {
        "out": got.detach(), "out_ref": ref.detach(),
        "d_feats": feats_sp.grad, "d_feats_ref": feats_ref.grad,
        "d_weight": layer.weight.grad, "d_weight_ref": weight_ref.grad,
    }


def test_fixes_are_installed_and_idempotent() -> None:
    before = spconv_cpu_fixes()
    assert before.gather_scatter and before.contiguous_indices
    assert before.backward_stream == (not torch.cuda.is_available())
    wrapped = ops.SpconvOps
    assert apply_spconv_cpu_fixes() == before
    assert ops.SpconvOps is wrapped  # not wrapped twice
    assert isinstance(before, SpconvFixes)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    ("kind", "k"), [("subm", 3), ("down", 3), ("inverse", 3), ("down", 2), ("inverse", 2)]
)
def test_layer_matches_dense_reference(kind: str, k: int, dtype: torch.dtype) -> None:
    r = _run_layer(kind, dtype, k=k)
    tol = TOL[dtype]
    assert r["out"].abs().max() > 1.0  # non-trivial output
    for name in ("out", "d_feats", "d_weight"):
        ref = r[name + "_ref"]
        scale = max(1.0, ref.abs().max().item())  # weight grads sum ~600 sites: |dW| ~ 100
        err = (r[name] - ref).abs().max().item() / scale
        assert err < tol, f"{kind} k{k} {dtype} {name}: max err / scale {err:.3g} >= {tol}"


@pytest.mark.parametrize("kind", ["subm", "down", "inverse"])
def test_layer_is_deterministic(kind: str) -> None:
    first, second = _run_layer(kind, torch.float32), _run_layer(kind, torch.float32)
    for name in ("out", "d_feats", "d_weight"):
        assert torch.equal(first[name], second[name]), name


# --- the defects themselves, reproduced with the original spconv code (justify the fixes) ---


def test_defect_b_original_scatter_add_is_wrong_with_two_threads() -> None:
    """DEFECT REPRODUCTION: spconv's own scatter_add_cpu, unique indices, 2 threads."""
    gen = torch.Generator().manual_seed(0)
    n, C = 20_000, 16
    src = torch.randn(n, C, generator=gen)
    index = torch.randperm(n, generator=gen).int()
    expected = torch.zeros(n, C).index_add_(0, index, src)
    errors = []
    for _ in range(3):
        out = torch.zeros(n, C)
        OriginalSpconvOps.scatter_add_cpu(
            torch_tensor_to_tv(out), torch_tensor_to_tv(src), torch_tensor_to_tv(index)
        )
        errors.append((out - expected).abs().max().item())
    if max(errors) == 0.0:
        pytest.skip("the race did not show in 3 runs on this machine")
    assert max(errors) > 1e-3


def test_defect_b_unpatched_conv_is_wrong_with_two_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DEFECT REPRODUCTION: the full spconv conv path with the original SpconvOps."""
    monkeypatch.setattr(ops, "SpconvOps", OriginalSpconvOps)
    worst = 0.0
    for seed in range(3):
        r = _run_layer("subm", torch.float64, seed=seed)
        worst = max(worst, (r["out"] - r["out_ref"]).abs().max().item())
    if worst < TOL[torch.float64]:
        pytest.skip("the race did not show in 3 runs on this machine")
    assert worst > 1e-3


@pytest.mark.skipif(torch.cuda.is_available(), reason="defect A needs a machine without CUDA")
def test_defect_a_original_backward_crashes_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """DEFECT REPRODUCTION: backward calls torch.cuda.current_stream() (no driver here)."""
    monkeypatch.setattr(ops, "get_current_stream", original_get_current_stream)
    with pytest.raises((RuntimeError, AssertionError)):
        _run_layer("down", torch.float32)


def test_hazard_c_column_major_coordinates_give_the_same_result() -> None:
    coords = _random_sites(1)
    column_major = coords.t().contiguous().t()  # same values, strides (1, N)
    assert not column_major.is_contiguous()
    layer = spconv.SubMConv3d(C_IN, 4, 3, padding=1, bias=False, **HOST)
    feats = torch.randn(coords.shape[0], C_IN)
    a = layer(spconv.SparseConvTensor(feats, coords, [S, S, S], B)).features
    b = layer(spconv.SparseConvTensor(feats, column_major, [S, S, S], B)).features
    assert torch.equal(a, b)
