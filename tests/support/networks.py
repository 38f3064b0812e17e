"""Small real MinkUNets with BatchNorm statistics that make folding matter, and the error measure
every gather-vs-spconv comparison uses."""

from __future__ import annotations

import torch

from seal_ros.core.minkunet import build_minkunet
from seal_ros.core.synthetic_scan import lidar_like_scan


def scan_tensors(points: int, seed: int = 0,
                 channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`seal_ros.core.synthetic_scan.lidar_like_scan` as torch tensors (xyz, features)."""
    xyz, features = lidar_like_scan(points, seed, channels)
    return torch.from_numpy(xyz), torch.from_numpy(features)


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial running statistics and affine terms, so BatchNorm folding is exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                C = m.num_features
                m.running_mean.copy_(torch.rand(C, generator=gen) - 0.5)
                m.running_var.copy_(0.5 + 1.5 * torch.rand(C, generator=gen))
                m.weight.copy_(0.5 + torch.rand(C, generator=gen))
                m.bias.copy_(0.4 * torch.rand(C, generator=gen) - 0.2)
    return model.eval()


def tiny_minkunet(out_channels: int | None = 5) -> torch.nn.Module:
    """Every MinkUNet block once, at small widths: the real class, fast on 2 cores."""
    torch.manual_seed(0)
    return randomise_bn(build_minkunet(in_channels=1, out_channels=out_channels,
                                       layers=(1, 1, 1, 1, 1, 1, 1, 1),
                                       planes=(8, 16, 16, 24, 16, 16, 8, 8), init_dim=8))


def rel_err(got: torch.Tensor, ref: torch.Tensor) -> float:
    """max |got - ref| / max |ref|: the tolerance measure of DESIGN.md decision 2."""
    return float((got - ref).abs().max() / ref.abs().max())
