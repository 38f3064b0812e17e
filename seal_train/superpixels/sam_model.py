"""SAM models for superpixels: which architecture, which weights file, on which device.

The checkpoint is a file the user gives; nothing downloads. It is read weights-only through
:func:`seal_ros.torch_files.load_torch_file` into a model built with ``checkpoint=None``
(``segment_anything/build_sam.py`` itself calls a plain ``torch.load``, which unpickles).
:class:`SamModel` is the picklable recipe the sources build lazily from. :func:`encode_images`
runs the image encoder, SAM's cost, on several images in one pass, and :func:`preset_predictor`
hands such an embedding to a ``SamPredictor`` (``segment_anything/predictor.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seal_ros.errors import ConfigError
from seal_train.superpixels.sources import SAM_MODELS as RELEASED_SAM_MODELS

if TYPE_CHECKING:
    import torch
    from segment_anything.modeling import Sam

__all__ = ["SAM_MODELS", "LazySam", "SamModel", "build_tiny_sam", "check_segment_anything",
           "describe_model", "encode_images", "load_sam_weights", "preset_predictor",
           "resolve_device", "sync"]

SAM_MODELS = (*RELEASED_SAM_MODELS, "tiny")
"""Model kinds: segment_anything's three registry entries (the CLI's ``--sam-model``), and
``tiny`` (random weights, :func:`build_tiny_sam`) for smoke tests and benchmarks."""


def build_tiny_sam(depth: int = 1, embed_dim: int = 32, image_size: int = 64, num_heads: int = 2,
                   prompt_dim: int = 32, seed: int = 0) -> Sam:
    """A SAM with random weights, small enough for CPU tests, from segment_anything's classes.

    Same wiring as ``segment_anything/build_sam.py`` (ViT encoder with relative positions, prompt
    encoder, two-way-transformer mask decoder, 3 multimask outputs), every width scaled down and
    global attention only. ``seed`` fixes the weights without touching the global RNG.
    """
    import torch
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    patch = 16
    if image_size % patch or embed_dim % num_heads or (prompt_dim // 2) % num_heads:
        raise ConfigError(f"tiny SAM: image_size a multiple of {patch} and widths divisible by "
                          f"num_heads; got {image_size}, {embed_dim}, {prompt_dim}, {num_heads}")
    grid = image_size // patch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        sam = Sam(
            image_encoder=ImageEncoderViT(
                img_size=image_size, patch_size=patch, embed_dim=embed_dim, depth=depth,
                num_heads=num_heads, out_chans=prompt_dim, qkv_bias=True, use_rel_pos=True,
                norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6), window_size=0),
            prompt_encoder=PromptEncoder(embed_dim=prompt_dim, image_embedding_size=(grid, grid),
                                         input_image_size=(image_size, image_size),
                                         mask_in_chans=16),
            mask_decoder=MaskDecoder(
                transformer_dim=prompt_dim, num_multimask_outputs=3, iou_head_depth=3,
                iou_head_hidden_dim=prompt_dim,
                transformer=TwoWayTransformer(depth=2, embedding_dim=prompt_dim,
                                              mlp_dim=2 * prompt_dim, num_heads=num_heads)))
    return sam.eval()


def _build_empty(kind: str) -> Sam:
    """The architecture of ``kind`` with its initial weights (no file is read)."""
    if kind == "tiny":
        return build_tiny_sam()
    from segment_anything import sam_model_registry

    return sam_model_registry[kind](checkpoint=None)


def load_sam_weights(model: torch.nn.Module, checkpoint: Path, kind: str) -> None:
    """Load a segment_anything state dict (the released ``sam_vit_*.pth`` layout) weights-only.

    Raises:
        ConfigError: no such file, not a weights-only torch file, or keys / shapes that are not
            ``kind``'s (missing and unexpected keys are listed).
    """
    from seal_ros.torch_files import load_torch_file

    state = load_torch_file(checkpoint, "SAM checkpoint", error=ConfigError)
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a training checkpoint that wraps the weights
    if not isinstance(state, dict):
        raise ConfigError(f"{checkpoint}: expected a SAM state dict, found {type(state).__name__}")
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatch: another model size
        first = str(err).strip().splitlines()[1:2] or [str(err)]
        raise ConfigError(f"{checkpoint}: not a SAM {kind} checkpoint ({first[0].strip()}); "
                          f"check --sam-model") from err
    if result.missing_keys or result.unexpected_keys:
        raise ConfigError(f"{checkpoint}: not a SAM {kind} checkpoint: "
                          f"{len(result.missing_keys)} missing keys {result.missing_keys[:4]}, "
                          f"{len(result.unexpected_keys)} unexpected "
                          f"{result.unexpected_keys[:4]}; check --sam-model")


@dataclass(frozen=True)
class SamModel:
    """Which SAM to build and from which file: the picklable recipe for the lazy model.

    ``kind`` is one of :data:`SAM_MODELS`; the ``vit_*`` models need ``checkpoint`` (a released
    ``sam_vit_*.pth``), ``tiny`` has random weights unless one is given.
    """

    kind: str = "vit_h"
    checkpoint: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in SAM_MODELS:
            raise ConfigError(f"SAM model {self.kind!r}: expected one of {', '.join(SAM_MODELS)}")
        if self.checkpoint is None and self.kind != "tiny":
            raise ConfigError(f"sam model {self.kind} needs its checkpoint file (--sam-checkpoint "
                              f"FILE, e.g. sam_{self.kind}_*.pth from segment-anything's "
                              f"README); nothing is downloaded")
        if self.checkpoint is not None:
            path = Path(self.checkpoint)
            if not path.is_file():
                raise ConfigError(f"{path}: no such SAM checkpoint file")
            object.__setattr__(self, "checkpoint", path)

    def describe(self) -> dict[str, Any]:
        """What identifies the weights in a manifest: kind, file name and size (not the path,
        which differs between machines)."""
        if self.checkpoint is None:
            return {"kind": self.kind, "checkpoint": None}
        return {"kind": self.kind, "checkpoint": self.checkpoint.name,
                "checkpoint_bytes": self.checkpoint.stat().st_size}

    def build(self) -> Sam:
        model = _build_empty(self.kind)
        if self.checkpoint is not None:
            load_sam_weights(model, self.checkpoint, self.kind)
        return model.eval()


@dataclass(frozen=True, eq=False)
class LazySam:
    """What the SAM sources share: a model built on the first image, dropped when pickled.

    Attributes:
        model: a :class:`SamModel` recipe (built on the first image, rebuilt where unpickled),
            or a built ``segment_anything`` ``Sam`` (tests, benchmarks), moved to ``device``.
        settings: the source's settings dataclass; all of it goes in the manifest.
        device: torch device; None = cuda when available, else cpu.
        encoder_batch: images per encoder pass (a frame's cameras share one); the encoder's
            activation memory grows linearly with it.
    """

    model: SamModel | Any
    settings: Any = None
    device: str | None = None
    encoder_batch: int = 6
    name: str = "sam"
    _built: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        check_segment_anything()
        if self.encoder_batch < 1:
            raise ConfigError(f"encoder_batch={self.encoder_batch}: expected >= 1")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if isinstance(self.model, SamModel):
            state["_built"] = {}  # rebuilt from the recipe where unpickled
        return state

    def parameters(self) -> dict[str, Any]:
        return {"model": describe_model(self.model), **asdict(self.settings)}

    def built_model(self) -> tuple[Sam, str]:
        """The model on its device (built once), and the device."""
        if "model" not in self._built:
            device = resolve_device(self.device)
            model = self.model.build() if isinstance(self.model, SamModel) else self.model
            self._built.update(model=model.to(device).eval(), device=device)
        return self._built["model"], self._built["device"]


def describe_model(model: SamModel | torch.nn.Module) -> dict[str, Any]:
    """Manifest entry for a recipe or for a model object given directly (tests, benchmarks)."""
    if isinstance(model, SamModel):
        return model.describe()
    count = sum(int(p.numel()) for p in model.parameters())
    return {"kind": f"object:{type(model).__name__}", "parameters": count}


def resolve_device(device: str | None) -> str:
    """``device`` or, when None, cuda if available else cpu."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def sync(device: str) -> None:
    """Wait for the GPU before reading a timer (STYLE section 7)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


@functools.cache
def _preset_predictor_class() -> type:
    from segment_anything import SamPredictor

    class PresetPredictor(SamPredictor):
        """A SamPredictor whose next ``set_image`` can take a precomputed embedding.

        The automatic generator calls ``predictor.set_image(crop)`` itself
        (``segment_anything/automatic_mask_generator.py``, ``_process_crop``); presetting the
        full image's embedding lets the encoder run batched beforehand. Sets the attributes
        ``set_torch_image`` sets (``segment_anything/predictor.py``).
        """

        preset: tuple[Any, tuple[int, int], tuple[int, int]] | None = None

        def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
            preset, self.preset = self.preset, None
            if preset is None or tuple(image.shape[:2]) != preset[1]:
                super().set_image(image, image_format)  # a crop, or nothing preset
                return
            self.reset_image()
            self.features, self.original_size, self.input_size = preset
            self.is_image_set = True

    return PresetPredictor


def preset_predictor(model: Sam) -> Any:
    """A SamPredictor for ``model`` with a ``preset`` slot: (features (1, C, h, w), original
    size (H, W), resized input size (h', w'))."""
    return _preset_predictor_class()(model)


def encode_images(model: Sam, images: Sequence[np.ndarray]
                  ) -> Iterator[tuple[torch.Tensor, tuple[int, int]]]:
    """SAM image embeddings of several (H, W, 3) uint8 RGB images in one encoder pass.

    As ``SamPredictor.set_image`` does per image: longest side resized to the encoder's size,
    normalised and padded by ``Sam.preprocess``; yields ((1, C, h, w) features, resized (h', w')).
    """
    import torch
    from segment_anything.utils.transforms import ResizeLongestSide

    transform = ResizeLongestSide(model.image_encoder.img_size)
    batch, sizes = [], []
    for image in images:
        resized = transform.apply_image(image)  # (h', w', 3) uint8
        pixels = torch.as_tensor(resized, device=model.device).permute(2, 0, 1).contiguous()
        batch.append(model.preprocess(pixels[None]))  # (1, 3, S, S)
        sizes.append((int(resized.shape[0]), int(resized.shape[1])))
    with torch.no_grad():
        features = model.image_encoder(torch.cat(batch))  # (B, C, S/16, S/16)
    for i, size in enumerate(sizes):
        yield features[i:i + 1], size


def check_segment_anything() -> None:
    import importlib.util

    if importlib.util.find_spec("segment_anything") is None:
        raise ConfigError("SAM superpixels need the segment_anything package: "
                          "pip install segment-anything")
