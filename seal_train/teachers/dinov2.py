"""Frozen DINOv2 ViT image teachers with a trainable projection head (SuperFlow's 2D branch).

The trunk is timm's ``VisionTransformer`` in its DINOv2 configuration (``vit_small_patch14_dinov2``
and so on), built with random weights and a dynamic image size, so any height and width that are
multiples of the 14-pixel patch work. Features are the last block's patch tokens *before* the
final LayerNorm (DINOv2's ``x_prenorm``, what SuperFlow distils: ``feat='x_pre_norm'`` in
``superflow/models/backbones/vit.py``); a trainable 1x1 conv maps them to the feature size, the map
is upsampled x14 bilinearly (SuperFlow's ``UpsampleHead``, ``align_corners=True``) and
L2-normalised per pixel.

Weights come from a file the user gives, never downloaded: the official release
(``dinov2_vitb14_pretrain.pth`` from facebookresearch/dinov2: ``cls_token``, ``pos_embed``,
``mask_token``, ``blocks.N.ls1.gamma`` ...) or a timm state dict (``.pth``, ``.safetensors``).
timm's own ``checkpoint_filter_fn`` converts them and resamples the position embeddings to the grid
the trunk is built for. timm resamples bicubically with antialiasing; DINOv2's own
``interpolate_pos_encoding`` does not antialias (and offsets the scale by 0.1 patch), so features
at sizes other than 518 x 518 are close to, not bit-identical with, DINOv2 hub outputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from seal_ros.errors import ConfigError
from seal_ros.torch_files import load_torch_file
from seal_train.teachers.resnet import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from timm.models.vision_transformer import VisionTransformer

log = logging.getLogger(__name__)

PATCH_SIZE = 14
"""Pixels per ViT patch: image heights and widths must be multiples of it."""
PRETRAIN_SIZE = 518
"""DINOv2's pretraining image size: the released position embeddings are a 37 x 37 grid."""
WRAPPERS = ("teacher", "model", "state_dict")
"""Checkpoint keys holding the state dict (DINOv2's training checkpoints use ``teacher``)."""
PREFIXES = ("module.", "backbone.")
"""Key prefixes of wrapped trunks (DDP, DINOv2's ``teacher.backbone``), stripped."""


@dataclass(frozen=True)
class Dinov2Arch:
    timm_name: str  # timm's architecture (built with pretrained=False)
    embed_dim: int  # token channels
    depth: int  # transformer blocks
    title: str  # for messages


DINOV2_ARCHS = {
    "dinov2_vits14": Dinov2Arch("vit_small_patch14_dinov2", 384, 12, "DINOv2 ViT-S/14"),
    "dinov2_vitb14": Dinov2Arch("vit_base_patch14_dinov2", 768, 12, "DINOv2 ViT-B/14"),
    "dinov2_vitl14": Dinov2Arch("vit_large_patch14_dinov2", 1024, 24, "DINOv2 ViT-L/14"),
}
"""Config ``teacher.name`` -> architecture (the names of DINOv2's hub models and released files)."""


def multiple_hint(size: int, multiple: int = PATCH_SIZE) -> int:
    """The multiple of ``multiple`` nearest ``size`` (at least one patch), for messages."""
    return max(multiple, round(size / multiple) * multiple)


class DinoV2Teacher(nn.Module):
    """Images (B, 3, H, W) float in [0, 1], H and W multiples of 14 -> (B, out_dim, H, W)
    unit-norm features."""

    mean: torch.Tensor  # buffers (not parameters, not saved)
    std: torch.Tensor

    def __init__(self, trunk: VisionTransformer, out_dim: int = 64, name: str = "dinov2") -> None:
        super().__init__()
        self.trunk = trunk
        for param in self.trunk.parameters():
            param.requires_grad_(False)
        self.name = name
        self.patch_size = PATCH_SIZE
        self.head = nn.Conv2d(trunk.embed_dim, out_dim, kernel_size=1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> DinoV2Teacher:
        super().train(mode)
        self.trunk.eval()  # frozen (no dropout or drop-path either way)
        return self

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, D, H / 14, W / 14): the last block's patch tokens before
        the final norm (class token dropped)."""
        _, _, H, W = images.shape
        if H % self.patch_size or W % self.patch_size:
            raise ConfigError(
                f"image {H} x {W}: teacher {self.name} needs a height and width that are "
                f"multiples of its patch size {self.patch_size} (set by pairing.image_height / "
                f"pairing.image_width; e.g. {multiple_hint(H)} x {multiple_hint(W)})")
        x = (images - self.mean) / self.std  # DINOv2's ImageNet normalisation
        # DINOv2's x_prenorm: the last block's output without the final norm; with
        # intermediates_only timm returns the list of the blocks taken (here one).
        taken = cast("list[torch.Tensor]", self.trunk.forward_intermediates(
            x, indices=1, norm=False, output_fmt="NCHW", intermediates_only=True))
        return taken[0]  # (B, D, H / 14, W / 14)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        B, _, H, W = images.shape
        with torch.no_grad():
            x = self.tokens(images)  # (B, D, H / 14, W / 14)
        x = self.head(x)  # (B, out_dim, H / 14, W / 14)
        # SuperFlow's UpsampleHead: bilinear x14 with align_corners=True.
        x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=True)
        return F.normalize(x, dim=1)


def build_dinov2_trunk(name: str, image_size: tuple[int, int] | None = None, **arch: Any
                       ) -> VisionTransformer:
    """timm's DINOv2 ``VisionTransformer`` for ``name``, random weights, dynamic image size.

    Args:
        name: a key of :data:`DINOV2_ARCHS`.
        image_size: (height, width) its position embeddings are laid out for; other sizes are
            resampled at each forward. None = DINOv2's own 518 x 518 (a 37 x 37 grid).
        arch: timm ``VisionTransformer`` overrides (``embed_dim``, ``depth``, ``num_heads``), for
            tiny test trunks.
    """
    import timm
    from timm.models.vision_transformer import VisionTransformer

    if name not in DINOV2_ARCHS:
        raise ConfigError(f"teacher.name {name!r}: expected one of {sorted(DINOV2_ARCHS)}")
    height, width = image_size or (PRETRAIN_SIZE, PRETRAIN_SIZE)
    if height % PATCH_SIZE or width % PATCH_SIZE:
        raise ConfigError(f"teacher {name}: image size {height} x {width} is not a multiple of "
                          f"the patch size {PATCH_SIZE} (pairing.image_height / "
                          f"pairing.image_width; e.g. {multiple_hint(height)} x "
                          f"{multiple_hint(width)})")
    trunk = timm.create_model(DINOV2_ARCHS[name].timm_name, pretrained=False, num_classes=0,
                              img_size=(height, width), dynamic_img_size=True, use_naflex=False,
                              **arch)
    if not isinstance(trunk, VisionTransformer):  # e.g. a timm that switched the class
        raise ConfigError(f"teacher {name}: timm built a {type(trunk).__name__}, expected its "
                          f"VisionTransformer")
    return trunk


def load_dinov2_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a DINOv2 ViT file, unwrapped, in the file's own layout (official or timm).

    ``.safetensors`` files are read with safetensors, everything else weights-only with torch.
    """
    path = Path(path)
    ckpt: Any
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise ConfigError(f"{path}: no such teacher weights file")
        from safetensors.torch import load_file

        try:
            ckpt = load_file(path)
        except Exception as err:  # safetensors raises its own error types
            raise ConfigError(f"{path}: not a readable safetensors teacher weights file: "
                              f"{err}") from err
    else:
        ckpt = load_torch_file(path, "teacher weights", ConfigError)
    for key in WRAPPERS:
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            ckpt = ckpt[key]
    if not isinstance(ckpt, dict) or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise ConfigError(f"teacher weights {path}: expected a state dict of tensors or a "
                          f"checkpoint with one under {' / '.join(map(repr, WRAPPERS))}")
    state: dict[str, torch.Tensor] = ckpt
    for prefix in PREFIXES:
        if any(key.startswith(prefix) for key in state):
            state = {key[len(prefix):]: value for key, value in state.items()
                     if key.startswith(prefix)}
    return state


def _file_arch(state: dict[str, torch.Tensor]) -> tuple[int | None, int, tuple[int, ...] | None]:
    """(embed_dim, depth, patch kernel) of a ViT state dict, None where its keys do not say."""
    dim = state["cls_token"].shape[-1] if "cls_token" in state else None
    blocks = {int(key.split(".")[1]) for key in state
              if key.startswith("blocks.") and key.split(".")[1].isdigit()}
    patch = state.get("patch_embed.proj.weight")
    return dim, len(blocks), tuple(patch.shape[-2:]) if patch is not None else None


def _check_arch(state: dict[str, torch.Tensor], trunk: VisionTransformer, name: str,
                path: Path) -> None:
    """ConfigError naming what the file holds and what ``name`` expects, when they differ."""
    dim, depth, patch = _file_arch(state)
    want = (trunk.embed_dim, len(trunk.blocks), (PATCH_SIZE, PATCH_SIZE))
    if (dim, depth, patch) == want or dim is None or patch is None:
        return  # a match, or too little to tell: the key check below says what is missing
    matches = [n for n, a in DINOV2_ARCHS.items() if (a.embed_dim, a.depth) == (dim, depth)]
    hint = (f"; set teacher.name={matches[0]}" if matches and patch == want[2] else
            "; not one of " + ", ".join(a.title for a in DINOV2_ARCHS.values()))
    raise ConfigError(f"teacher weights {path}: a ViT with embed_dim {dim}, {depth} blocks and "
                      f"{patch[0]}x{patch[-1]} patches, expected {name} (embed_dim {want[0]}, "
                      f"{want[1]} blocks, {PATCH_SIZE}x{PATCH_SIZE} patches){hint}")


def load_dinov2_weights(trunk: VisionTransformer, path: str | Path, name: str) -> None:
    """Load a DINOv2 file (official or timm layout) into ``trunk``, strictly.

    Raises:
        ConfigError: unreadable file, another architecture or size, registers, missing or
            unexpected keys (the message names the file and what was expected).
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    path = Path(path)
    state = load_dinov2_state(path)
    if "register_tokens" in state:
        raise ConfigError(f"teacher weights {path}: a DINOv2 model with register tokens "
                          f"(dinov2_*_reg4); expected {name} without registers")
    _check_arch(state, trunk, name, path)
    state = {k: v for k, v in state.items() if not k.startswith("head.")}  # timm classifier
    try:
        # timm's own conversion: drops DINOv2's mask_token (official layout), resamples
        # pos_embed to the trunk's patch grid.
        state = checkpoint_filter_fn(state, trunk)
        missing, unexpected = trunk.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches, a position grid that cannot be resampled
        detail = " ".join(str(err).split())  # torch's message spans lines
        raise ConfigError(f"teacher weights {path}: not a {name} ({detail})") from err
    if missing or unexpected:
        raise ConfigError(f"teacher weights {path}: {len(missing)} missing keys (e.g. "
                          f"{missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}); "
                          f"expected {name} in the official DINOv2 or the timm layout")


def build_dinov2_teacher(name: str, weights: str | Path | None = None, out_dim: int = 64,
                         image_size: tuple[int, int] | None = None, **arch: Any
                         ) -> DinoV2Teacher:
    """DINOv2 ViT teacher ``name``; ``weights`` is a user file (never downloaded), None = random.

    Args:
        name: ``dinov2_vits14``, ``dinov2_vitb14`` or ``dinov2_vitl14``.
        weights: the official ``<name>_pretrain.pth`` or a timm state dict (.pth / .safetensors).
        out_dim: the trainable head's output channels (the distilled feature size).
        image_size: (height, width) the teacher will see (pairing.image_height / image_width);
            the file's position embeddings are resampled to its grid once. None = DINOv2's
            37 x 37 grid, resampled to each image's grid at every forward (the same values).
        arch: timm ``VisionTransformer`` overrides (``embed_dim``, ``depth``, ``num_heads``), for
            tiny test trunks; a weights file must then match them.
    """
    trunk = build_dinov2_trunk(name, image_size, **arch)
    if weights is None:
        log.warning("IMAGE TEACHER HAS RANDOM WEIGHTS: no teacher weights file given; "
                    "distillation will not transfer image knowledge")
    else:
        load_dinov2_weights(trunk, weights, name)
        log.info("image teacher: %s from %s (position grid %s)", DINOV2_ARCHS[name].title,
                 weights, tuple(trunk.patch_embed.grid_size))
    return DinoV2Teacher(trunk, out_dim, name)
