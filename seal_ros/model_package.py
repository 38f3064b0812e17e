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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from seal_ros.atomic_files import write_text
from seal_ros.config_files import parse_enum, parse_yaml
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
    def load(cls, path: str | Path, allow_outside: bool = False) -> ModelPackage:
        """Read and validate a package YAML (a folder means its ``model.yaml``).

        ``onnx`` and ``checkpoint`` must lie inside the package's folder (a package is copied
        to a vehicle as one folder, and a file from elsewhere is not what was exported) unless
        ``allow_outside``.

        Raises:
            ConfigError: missing file, unreadable YAML, or a bad/missing key (the message names
                the file, the key and what was expected).
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
            return cls.from_dict(data, base=path.parent, path=path, allow_outside=allow_outside)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from err

    @classmethod
    def from_dict(cls, data: Any, base: Path = Path("."), path: Path | None = None,
                  allow_outside: bool = True) -> ModelPackage:
        """Build from a mapping as written by :meth:`to_dict`; relative ``onnx`` joins ``base``.
        Every value is type-checked; a wrong one is a ConfigError naming its key."""
        data = _mapping(data, "the top level")
        _known(data, "", {"format_version", "model_id", "onnx", "class_names", "palette",
                          "ignore_id", "voxel", "input", "profile", "network", "checkpoint"})
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ConfigError(f"format_version {version}: this Seal reads {FORMAT_VERSION}")
        for key in ("model_id", "onnx", "class_names", "palette"):
            if key not in data:
                raise ConfigError(f"missing key {key!r}")
        voxel = _mapping(data.get("voxel") or {}, "voxel")
        _known(voxel, "voxel.", {"kind", "cell_size"})
        kind = parse_enum(GridKind, voxel.get("kind", "cylindrical"), "voxel.kind")
        cell_size = _numbers(voxel.get("cell_size", (0.1, 1.0, 0.1)), "voxel.cell_size", 3)
        inp = _mapping(data.get("input") or {}, "input")
        _known(inp, "input.", {"fields", "features", "feature_scale"})
        default = InputSpec()
        spec = InputSpec(
            fields=_strings(inp["fields"], "input.fields") if "fields" in inp else default.fields,
            features=(_strings(inp["features"], "input.features") if "features" in inp
                      else default.features),
            feature_scale=(_numbers(inp["feature_scale"], "input.feature_scale")
                           if "feature_scale" in inp else default.feature_scale))
        prof = _mapping(data.get("profile") or {}, "profile")
        _known(prof, "profile.", {"points", "voxels"})
        profile = Profile(**{k: _int_triple(_integers(v, f"profile.{k}", 3))
                             for k, v in prof.items()})
        ignore_id = data.get("ignore_id", 0)
        network = _mapping(data.get("network") or {}, "network")
        if "num_classes" in network:
            _integer(network["num_classes"], "network.num_classes")
        return cls(
            model_id=_string(data["model_id"], "model_id"),
            onnx=_file(data["onnx"], "onnx", base, allow_outside),
            class_names=_strings(data["class_names"], "class_names"),
            palette=tuple(_int_triple(_integers(rgb, f"palette[{i}]", 3))
                          for i, rgb in enumerate(_sequence(data["palette"], "palette"))),
            ignore_id=None if ignore_id is None else _integer(ignore_id, "ignore_id"),
            grid=VoxelGrid(GridKind(kind), cast(tuple[float, float, float], cell_size)),
            input=spec,
            profile=profile,
            network=network,
            checkpoint=None if data.get("checkpoint") is None else _file(
                data["checkpoint"], "checkpoint", base, allow_outside),
            path=path,
        )


# ------------------------------------------------------------------- typed YAML values --

def _mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _known(data: dict[str, Any], prefix: str, known: set[str]) -> None:
    unknown = sorted(str(k) for k in set(data) - known)
    if unknown:
        raise ConfigError(f"unknown keys {[prefix + k for k in unknown]} (known: "
                          f"{sorted(prefix + k for k in known)})")


def _sequence(value: Any, key: str, length: int | None = None) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
    if length is not None and len(value) != length:
        raise ConfigError(f"{key}: expected {length} values, got {len(value)}")
    return list(value)


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    return tuple(_string(v, f"{key}[{i}]") for i, v in enumerate(_sequence(value, key)))


def _integer(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    return value


def _integers(value: Any, key: str, length: int | None = None) -> tuple[int, ...]:
    return tuple(_integer(v, f"{key}[{i}]") for i, v in
                 enumerate(_sequence(value, key, length)))


def _numbers(value: Any, key: str, length: int | None = None) -> tuple[float, ...]:
    out = []
    for i, v in enumerate(_sequence(value, key, length)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"{key}[{i}]: expected a finite number, got {v!r}")
        out.append(float(v))
    return tuple(out)


def _file(value: Any, key: str, base: Path, allow_outside: bool) -> Path:
    """``value`` as a path joined to ``base``; refused when it leaves the package folder."""
    path = Path(_string(value, key))
    resolved = (base / path).resolve() if not path.is_absolute() else path.resolve()
    if not allow_outside and not resolved.is_relative_to(base.resolve()):
        raise ConfigError(f"{key}: {value!r} resolves to {resolved}, outside the package "
                          f"folder {base.resolve()}; copy the file into the folder (or load "
                          f"with allow_outside=True)")
    return resolved
