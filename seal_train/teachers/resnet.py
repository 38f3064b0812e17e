"""Frozen torchvision ResNet-50 image teacher with a trainable projection head (SLidR's 2D branch).

The trunk is dilated so its output stride is 4 (configurable), a trainable 1x1 conv maps 2048 -> 64
channels, the map is upsampled bilinearly to the input size and L2-normalised per pixel. Weights
come from a file the user gives: a torchvision state dict or a MoCo-v2 checkpoint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from seal_ros.errors import ConfigError
from seal_ros.torch_files import load_torch_file

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DILATIONS = {4: [True, True, True], 8: [False, True, True], 16: [False, False, True],
             32: [False, False, False]}
"""Output stride -> torchvision's replace_stride_with_dilation for layer2..layer4."""
STAGE_DIMS = {1: 256, 2: 512, 3: 1024, 4: 2048}
"""ResNet-50 stage (layer1..layer4) -> channels of its output."""
TRUNK_NAMES = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
"""torchvision names of a ResNet-50's trunk modules, in order: the teacher trunk's children 0..7."""
MOCO_PREFIXES = ("module.encoder_q.", "encoder_q.", "module.", "backbone.")


class ResNetTeacher(nn.Module):
    """Images (B, 3, H, W) float in [0, 1] -> (B, out_dim, H, W) unit-norm features."""

    mean: torch.Tensor  # buffers (not parameters, not saved)
    std: torch.Tensor

    def __init__(self, trunk: nn.Module, trunk_dim: int = 2048, out_dim: int = 64) -> None:
        super().__init__()
        self.trunk = trunk
        for param in self.trunk.parameters():
            param.requires_grad_(False)
        self.head = nn.Conv2d(trunk_dim, out_dim, kernel_size=1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> ResNetTeacher:
        super().train(mode)
        self.trunk.eval()  # frozen: BatchNorm statistics never move
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        B, _, H, W = images.shape
        with torch.no_grad():
            x = self.trunk((images - self.mean) / self.std)  # (B, 2048, H / s, W / s)
        x = self.head(x)  # (B, out_dim, H / s, W / s)
        x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False)
        return F.normalize(x, dim=1)


def _trunk(output_stride: int, stage: int = 4) -> nn.Sequential:
    """conv1 .. layer``stage`` of a (dilated) ResNet-50; children keep indices 0..7."""
    from torchvision.models import resnet50

    if output_stride not in DILATIONS:
        raise ConfigError(f"teacher output_stride {output_stride}: expected one of "
                          f"{sorted(DILATIONS)}")
    if stage not in STAGE_DIMS:
        raise ConfigError(f"teacher stage {stage}: expected one of {sorted(STAGE_DIMS)}")
    net = resnet50(weights=None, replace_stride_with_dilation=DILATIONS[output_stride])
    return nn.Sequential(*(getattr(net, name) for name in TRUNK_NAMES[:4 + stage]))


def load_resnet50_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A torchvision-layout ResNet-50 state dict from a torchvision or MoCo-v2 checkpoint file."""
    path = Path(path)
    ckpt = load_torch_file(path, "teacher weights", ConfigError)
    state = ckpt.get("state_dict", ckpt.get("model", ckpt)) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ConfigError(f"teacher weights {path}: expected a state dict or a checkpoint with "
                          f"'state_dict'")
    for prefix in MOCO_PREFIXES:
        if any(key.startswith(prefix) for key in state):
            state = {key[len(prefix):]: value for key, value in state.items()
                     if key.startswith(prefix)}
            break
    return {key: value for key, value in state.items() if not key.startswith("fc.")}


def build_resnet50_teacher(weights: str | Path | None = None, out_dim: int = 64,
                           output_stride: int = 4, stage: int = 4) -> ResNetTeacher:
    """ResNet-50 teacher; ``weights`` is a user file (never downloaded), None = random weights.

    ``stage`` picks the deepest stage kept (4 = SLidR's layer4). Earlier stages cost a fraction
    of the trunk (stage 2 about a quarter of a dilated stride-16 trunk) and, with random weights,
    keep more of the image's local colour and texture than the deep, mixed layer4 features.
    """
    trunk = _trunk(output_stride, stage)
    if weights is None:
        log.warning("IMAGE TEACHER HAS RANDOM WEIGHTS: no teacher weights file given; "
                    "distillation will not transfer image knowledge")
    else:
        state = load_resnet50_state(weights)
        # nn.Sequential names its children 0..7 instead of conv1, bn1, ..., layer4.
        renamed = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if head in TRUNK_NAMES:
                renamed[f"{TRUNK_NAMES.index(head)}.{rest}"] = value
        kept = {f"{i}." for i in range(len(trunk))}
        renamed = {k: v for k, v in renamed.items() if k[:2] in kept}  # stages beyond ``stage``
        try:
            missing, unexpected = trunk.load_state_dict(renamed, strict=False)
        except RuntimeError as err:  # shape mismatches
            raise ConfigError(f"teacher weights {weights}: not a ResNet-50 ({err})") from err
        if missing or unexpected:
            raise ConfigError(f"teacher weights {weights}: {len(missing)} missing keys "
                              f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. "
                              f"{unexpected[:3]}); expected a ResNet-50")
        log.info("image teacher: ResNet-50 from %s (output stride %d)", weights, output_stride)
    return ResNetTeacher(trunk, STAGE_DIMS[stage], out_dim)
