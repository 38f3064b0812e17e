"""What gets exported: backbone weights, a segmentation head, its classes, and the input recipe.

A network is deployable only with a segmentation head and the facts the vehicle needs to feed it:
the voxel grid and point features it was trained with. They come from

- the checkpoint: a pretraining / fine-tuning checkpoint (``{"model": {"backbone.*": ...},
  "config": {...}}``, grid in ``config.model``, features in ``config.pairing.point_features`` or
  ``config.point_features``) or a raw MinkUNet state dict (then ``grid`` and ``features`` must be
  given);
- the head: a probe head file (``probe.pt``: ``head`` Linear state dict, ``class_names``,
  ``config``), a head already in the checkpoint (``head.*`` / ``backbone.head.*`` plus
  ``class_names`` or ``classes``), or a random-weight head for a label map (``classes``) to test
  the deployment chain with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seal_ros.core.fold import infer_spec, spconv_state_from_checkpoint
from seal_ros.core.voxel_grid import GridKind, VoxelGrid
from seal_ros.errors import ExportError, SealError
from seal_ros.torch_files import load_torch_file

__all__ = ["ExportSource", "load_export_source"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSource:
    """A complete segmentation network and how to feed it.

    Attributes:
        state: spconv MinkUNet state dict including ``head.weight`` (K, C) and ``head.bias``.
        class_names: K class names (index = class id; 0 is the ignored class by convention).
        grid: the voxel grid of training.
        features: point fields fed to the network, in order (``in_channels`` of them).
        network: backbone facts for the model package (backbone, width, in_channels,
            num_classes, stem_kernel, layers, planes).
        random_head: True when the head has random weights (deployment-chain tests only).
    """

    state: dict[str, torch.Tensor]
    class_names: tuple[str, ...]
    grid: VoxelGrid
    features: tuple[str, ...]
    network: dict[str, Any]
    random_head: bool = False


def _recipe(config: Mapping[str, Any] | None, path: Path, grid: VoxelGrid | None,
            features: tuple[str, ...] | None) -> tuple[VoxelGrid, tuple[str, ...], dict[str, Any]]:
    """Grid, point features and model facts from a stored run config (explicit values win)."""
    model: dict[str, Any] = {}
    stored_features = None
    if config:
        model = dict(config.get("model") or {})
        pairing = config.get("pairing") or {}
        stored_features = pairing.get("point_features", config.get("point_features"))
    if grid is None:
        if not model:
            raise ExportError(f"{path}: has no run config to take the voxel grid from; give "
                              f"--grid cylindrical|cartesian (and --voxel-size)")
        try:
            grid = VoxelGrid.from_name(model.get("grid", GridKind.CYLINDRICAL),
                                       float(model.get("voxel_size", 0.1)),
                                       setting="config.model.grid")
        except SealError as err:
            raise ExportError(f"{path}: {err}") from err
    if features is None:
        if stored_features is None:
            raise ExportError(f"{path}: has no run config to take the point features from; "
                              f"give --features (e.g. intensity)")
        features = tuple(str(f) for f in stored_features)
    elif stored_features is not None and tuple(stored_features) != features:
        log.warning("%s was trained on point features %s; exporting with %s", path,
                    list(stored_features), list(features))
    return grid, features, model


def _head_file(path: Path) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...], str | None]:
    """Weight (K, C), bias (K,), class names and the checkpoint it was trained on."""
    saved = load_torch_file(path, "head", ExportError)
    if not isinstance(saved, Mapping) or "head" not in saved or "class_names" not in saved:
        raise ExportError(f"{path}: not a head file; expected a dict with 'head' (Linear state "
                          f"dict) and 'class_names' as `seal_train probe` writes")
    head = saved["head"]
    weight, bias = head.get("weight"), head.get("bias")
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2 or not isinstance(
            bias, torch.Tensor):
        raise ExportError(f"{path}: head must hold 'weight' (K, C) and 'bias' (K,) tensors")
    names = tuple(str(c) for c in saved["class_names"])
    if weight.shape[0] != len(names) or bias.shape != (len(names),):
        raise ExportError(f"{path}: {len(names)} class_names but the head has "
                          f"{weight.shape[0]} output rows (bias {tuple(bias.shape)})")
    trained_on = saved.get("checkpoint")
    return weight.float(), bias.float(), names, None if trained_on is None else str(trained_on)


def load_export_source(
    checkpoint: str | Path,
    head: str | Path | None = None,
    classes: str | None = None,
    grid: VoxelGrid | None = None,
    features: tuple[str, ...] | None = None,
    seed: int = 0,
) -> ExportSource:
    """Gather the network to export.

    Args:
        checkpoint: pretraining / fine-tuning checkpoint or raw MinkUNet state dict (``.pt``).
        head: probe head file (``probe.pt``); its ``class_names`` become the package classes.
        classes: label map (``nuscenes``, ``semantic-kitti`` or a YAML path) naming the classes
            of a head stored in the checkpoint, or, without any head, of a random-weight head.
        grid: voxel grid (required for raw state dicts, else overrides the checkpoint's).
        features: point features (required for raw state dicts, else overrides).
        seed: seed of a random head.

    Raises:
        ExportError: unreadable files, no head and no ``classes``, class count != head rows,
            head width != backbone width, feature count != input channels.
    """
    from seal_ros.labels import load_label_map

    checkpoint = Path(checkpoint)
    if head is not None and classes is not None:
        raise ExportError("give either --head (its class_names name the classes) or --classes, "
                          "not both")
    payload = load_torch_file(checkpoint, "checkpoint", ExportError)
    if not isinstance(payload, Mapping):
        raise ExportError(f"{checkpoint}: expected a checkpoint dict or a state dict")
    try:
        state = spconv_state_from_checkpoint(payload)
        spec = infer_spec({k: v for k, v in state.items() if not k.startswith("head.")})
    except SealError as err:
        raise ExportError(f"{checkpoint}: {err}") from err
    config = payload.get("config") if isinstance(payload.get("config"), Mapping) else None
    grid, features, model = _recipe(config, checkpoint, grid, features)
    if len(features) != spec.in_channels:
        raise ExportError(f"{checkpoint}: the network takes {spec.in_channels} input channels "
                          f"but the point features are {list(features)}")
    channels = spec.planes[-1]
    random_head = False
    stored_names = payload.get("class_names")
    if head is not None:
        weight, bias, names, trained_on = _head_file(Path(head))
        if "head.weight" in state:
            log.warning("%s has a head of its own; exporting the one of %s", checkpoint, head)
        if trained_on and Path(trained_on).resolve() != checkpoint.resolve():
            log.warning("%s was trained on the features of %s, not %s", head, trained_on,
                        checkpoint)
        if weight.shape[1] != channels:
            raise ExportError(f"{head}: head takes {weight.shape[1]} features but the backbone "
                              f"of {checkpoint} outputs {channels}")
        state["head.weight"], state["head.bias"] = weight, bias
    elif "head.weight" in state:
        if classes is not None:
            names = load_label_map(classes).class_names
        elif stored_names is not None:
            names = tuple(str(c) for c in stored_names)
        else:
            raise ExportError(f"{checkpoint}: has a segmentation head but no class_names; give "
                              f"--classes nuscenes|semantic-kitti|<label map yaml>")
        if state["head.weight"].shape[0] != len(names):
            raise ExportError(f"{checkpoint}: head has {state['head.weight'].shape[0]} output "
                              f"rows but {len(names)} classes are named")
    elif classes is not None:
        names = load_label_map(classes).class_names
        generator = torch.Generator().manual_seed(seed)
        layer = torch.nn.Linear(channels, len(names))
        bound = 1.0 / channels**0.5  # nn.Linear's default init, seeded
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=generator)
            layer.bias.uniform_(-bound, bound, generator=generator)
        state["head.weight"], state["head.bias"] = layer.weight.detach(), layer.bias.detach()
        random_head = True
        log.warning("=" * 72)
        log.warning("RANDOM-WEIGHT HEAD for %d %s classes: its labels mean nothing. Use it only "
                    "to test the deployment chain.", len(names), classes)
        log.warning("=" * 72)
    else:
        raise ExportError(f"{checkpoint}: has no segmentation head; a segmentation head is "
                          f"needed: give --head probe.pt (from `seal_train probe`), or --classes "
                          f"nuscenes|semantic-kitti for a random-weight head (testing only)")
    network = {
        "backbone": str(model.get("backbone", "minkunet")),
        "width": float(model["width"]) if "width" in model else None,
        "in_channels": spec.in_channels,
        "num_classes": len(names),
        "stem_kernel": spec.stem_kernel,
        "layers": list(spec.layers),
        "planes": list(spec.planes),
    }
    network = {k: v for k, v in network.items() if v is not None}
    return ExportSource(state=state, class_names=tuple(names), grid=grid, features=features,
                        network=network, random_head=random_head)
