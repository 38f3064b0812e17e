"""The model package: everything the vehicle needs to know about an exported network, in one YAML.

``seal_train export`` writes it next to the ONNX; the node and the replay tool read it. It follows
Autoware's "ml package" files: class names and palette travel with the model, as do the voxel grid,
the fields the input cloud must carry, how they become network features, and the input profile
(min / opt / max points and voxels) that bounds what the engines accept and what TensorRT optimises
for. Example::

    format_version: 1
    model_id: seal-minkunet34-synthetic
    onnx: model.onnx                    # relative to this file
    class_names: [noise, barrier, ...]  # index = class_id on the segmentation cloud
    palette: [[0, 0, 0], [255, 120, 50], ...]
    ignore_id: 0                        # never predicted (masked before argmax)
    voxel: {kind: cylindrical, cell_size: [0.1, 1.0, 0.1]}
    input:
      fields: [x, y, z, intensity]      # required PointCloud2 fields
      features: [intensity]             # network input channels, in order
      feature_scale: [1.0]              # multiplies each feature (e.g. 255 for 0..1 intensities)
    profile: {points: [1000, 35000, 150000], voxels: [500, 30000, 120000]}
    network: {backbone: minkunet34, in_channels: 1, num_classes: 17, stem_kernel: 3}
    checkpoint: model.pt                # optional: weights for the torch / gather engines
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from seal_ros.atomic_files import write_text
from seal_ros.config_files import parse_yaml
from seal_ros.core.voxel_grid import GridKind, VoxelGrid
from seal_ros.errors import ConfigError

__all__ = ["FORMAT_VERSION", "InputSpec", "ModelPackage", "Profile"]

FORMAT_VERSION = 1


def _int_triple(values: Any) -> tuple[int, int, int]:
    """``values`` as ints, typed as the triple that the receiving dataclass checks it is.

    Profile and ModelPackage validate the length (with their own messages), so no check here.
    """
    return cast(tuple[int, int, int], tuple(int(v) for v in values))


@dataclass(frozen=True, slots=True)
class Profile:
    """Input sizes an engine accepts: (min, opt, max) points and voxels per scan."""

    points: tuple[int, int, int] = (1_000, 35_000, 150_000)
    voxels: tuple[int, int, int] = (500, 30_000, 120_000)

    def __post_init__(self) -> None:
        for name in ("points", "voxels"):
            lo, opt, hi = getattr(self, name)
            if not 1 <= lo <= opt <= hi:
                raise ConfigError(f"profile.{name} {[lo, opt, hi]}: expected 1 <= min <= opt "
                                  f"<= max")


@dataclass(frozen=True, slots=True)
class InputSpec:
    """What the input cloud must carry and how its fields become network features."""

    fields: tuple[str, ...] = ("x", "y", "z", "intensity")
    features: tuple[str, ...] = ("intensity",)
    feature_scale: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        for axis in ("x", "y", "z"):
            if axis not in self.fields:
                raise ConfigError(f"input.fields {list(self.fields)}: must contain {axis!r}")
        missing = [f for f in self.features if f not in self.fields]
        if missing:
            raise ConfigError(f"input.features {missing}: not in input.fields "
                              f"{list(self.fields)}")
        if len(self.feature_scale) != len(self.features):
            raise ConfigError(f"input.feature_scale has {len(self.feature_scale)} values for "
                              f"{len(self.features)} features")


@dataclass(frozen=True)
class ModelPackage:
    """A deployable model: network file plus everything needed to feed it and read its output.

    Attributes:
        model_id: name (and version) shown on ``SegmentationInfo`` and diagnostics.
        onnx: path of the ONNX file (absolute once loaded).
        class_names: class names; the index is the ``class_id`` on the output cloud.
        palette: one RGB triple (0..255) per class.
        ignore_id: class id never predicted (its logit is masked before the argmax).
        grid: the voxel grid the network was trained with.
        input: required fields and the feature channels.
        profile: input profile (points and voxels, min/opt/max).
        network: backbone hyperparameters (``backbone``, ``in_channels``, ``num_classes``,
            ``stem_kernel``), informative; engines check ``num_classes`` against their output.
        checkpoint: optional Seal / spconv checkpoint (absolute once loaded) for the ``torch``
            and ``gather`` engines, which run the network from weights instead of the ONNX.
        path: the YAML file this package was read from (None before saving).
    """

    model_id: str
    onnx: Path
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    ignore_id: int | None = 0
    grid: VoxelGrid = field(default_factory=VoxelGrid.cylindrical)
    input: InputSpec = field(default_factory=InputSpec)
    profile: Profile = field(default_factory=Profile)
    network: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        if not self.class_names:
            raise ConfigError("class_names: empty; a model package needs at least one class")
        if len(self.palette) != len(self.class_names):
            raise ConfigError(f"palette has {len(self.palette)} colours for "
                              f"{len(self.class_names)} classes")
        for i, rgb in enumerate(self.palette):
            if len(rgb) != 3 or not all(0 <= int(c) <= 255 for c in rgb):
                raise ConfigError(f"palette[{i}] = {list(rgb)}: expected 3 values in 0..255")
        if len(self.class_names) > 255:
            raise ConfigError(f"{len(self.class_names)} classes: class_id is uint8 (max 255)")
        if self.ignore_id is not None and not 0 <= self.ignore_id < len(self.class_names):
            raise ConfigError(f"ignore_id {self.ignore_id}: not a class id "
                              f"(0..{len(self.class_names) - 1})")
        declared = self.network.get("num_classes")
        if declared is not None and int(declared) != len(self.class_names):
            raise ConfigError(f"network.num_classes {declared} != {len(self.class_names)} "
                              f"class_names")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def check_engine_classes(self, num_outputs: int) -> None:
        """Raise ConfigError when an engine's output width disagrees with the class list."""
        if num_outputs != self.num_classes:
            where = self.path or self.model_id
            raise ConfigError(f"{where}: the engine outputs {num_outputs} classes but the package "
                              f"lists {self.num_classes} class_names")

    # ------------------------------------------------------------------------------- YAML --

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-ready mapping (``onnx`` as stored; :meth:`save` makes it relative)."""
        return {
            "format_version": FORMAT_VERSION,
            "model_id": self.model_id,
            "onnx": str(self.onnx),
            "class_names": list(self.class_names),
            "palette": [list(map(int, rgb)) for rgb in self.palette],
            "ignore_id": self.ignore_id,
            "voxel": {"kind": self.grid.kind.value, "cell_size": list(self.grid.cell_size)},
            "input": {"fields": list(self.input.fields), "features": list(self.input.features),
                      "feature_scale": list(self.input.feature_scale)},
            "profile": {"points": list(self.profile.points),
                        "voxels": list(self.profile.voxels)},
            "network": dict(self.network),
            **({"checkpoint": str(self.checkpoint)} if self.checkpoint is not None else {}),
        }

    def save(self, path: str | Path) -> Path:
        """Write the YAML (``onnx`` stored relative to the file's folder when inside it)."""
        path = Path(path)
        data = self.to_dict()
        for key in ("onnx", "checkpoint"):
            target = Path(data[key]) if data.get(key) is not None else None
            if target is not None and target.is_absolute():
                with contextlib.suppress(ValueError):  # outside the folder: stays absolute
                    data[key] = str(target.relative_to(path.parent.resolve()))
        return write_text(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None,
                                               width=100))

    @classmethod
    def load(cls, path: str | Path) -> ModelPackage:
        """Read and validate a package YAML (a folder means its ``model.yaml``).

        Raises:
            ConfigError: missing file, unreadable YAML, or a bad/missing key (the message names
                the file and the key).
        """
        path = Path(path)
        if path.is_dir():
            path = path / "model.yaml"
        if not path.is_file():
            raise ConfigError(f"{path}: no such model package (write one with `seal_train "
                              f"export`)")
        try:
            data = parse_yaml(path.read_text())  # aliases refused: no alias bomb
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        try:
            return cls.from_dict(data, base=path.parent, path=path)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from err

    @classmethod
    def from_dict(cls, data: Any, base: Path = Path("."), path: Path | None = None
                  ) -> ModelPackage:
        """Build from a mapping as written by :meth:`to_dict`; relative ``onnx`` joins ``base``."""
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping at the top level")
        known = {"format_version", "model_id", "onnx", "class_names", "palette", "ignore_id",
                 "voxel", "input", "profile", "network", "checkpoint"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown keys {unknown} (known: {sorted(known)})")
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ConfigError(f"format_version {version}: this Seal reads {FORMAT_VERSION}")
        for key in ("model_id", "onnx", "class_names", "palette"):
            if key not in data:
                raise ConfigError(f"missing key {key!r}")
        try:
            voxel = data.get("voxel") or {}
            # VoxelGrid checks that cell_size has 3 values (a ConfigError naming them)
            cell_size = cast(tuple[float, float, float],
                             tuple(float(v) for v in voxel.get("cell_size", (0.1, 1.0, 0.1))))
            grid = VoxelGrid(GridKind(voxel.get("kind", "cylindrical")), cell_size)
            inp = data.get("input") or {}
            spec = InputSpec(**{k: tuple(v) for k, v in inp.items()})
            prof = data.get("profile") or {}
            profile = Profile(**{k: _int_triple(v) for k, v in prof.items()})
        except (TypeError, ValueError) as err:
            raise ConfigError(f"voxel/input/profile: {err}") from err
        onnx = Path(data["onnx"])
        if not onnx.is_absolute():
            onnx = (base / onnx).resolve()
        checkpoint = None if data.get("checkpoint") is None else Path(data["checkpoint"])
        if checkpoint is not None and not checkpoint.is_absolute():
            checkpoint = (base / checkpoint).resolve()
        return cls(
            model_id=str(data["model_id"]),
            onnx=onnx,
            class_names=tuple(str(c) for c in data["class_names"]),
            palette=tuple(_int_triple(rgb) for rgb in data["palette"]),
            ignore_id=None if data.get("ignore_id", 0) is None else int(data.get("ignore_id", 0)),
            grid=grid,
            input=spec,
            profile=profile,
            network=dict(data.get("network") or {}),
            checkpoint=checkpoint,
            path=path,
        )
