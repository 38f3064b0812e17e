"""Typed configuration: dataclass schemas with defaults in code, YAML files, ``a.b=c`` overrides.

The one loader of Seal's configs: training configs (:mod:`seal_train.config`) and the node's
parameters (:mod:`seal_ros.node.params`, which adds ROS 2's file layout) both go through it. A file
states only what differs from the dataclass defaults; ``key=value`` overrides (values parsed as
YAML, keys dotted for nested records: ``optim.lr=0.1``) apply last. Values are checked against the
type hints and converted (enums from their names, paths, tuples, nested dataclasses); unknown keys
and wrongly typed values are errors naming the file, the key and what was expected, so a typo
never silently runs another experiment. No torch: configs are read before any heavy import.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from seal_ros.atomic_files import write_text
from seal_ros.errors import ConfigError

__all__ = ["from_dict", "load_config", "merge", "nest", "parse_enum", "parse_overrides",
           "parse_yaml", "read_yaml", "resolve", "save_config", "to_dict"]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

_SCALARS: dict[type, str] = {bool: "true/false", int: "an integer", float: "a number",
                             str: "a string", Path: "a path"}


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader without aliases: ``*name`` would let a small file expand into a structure
    of billions of items (an alias bomb); no Seal file needs them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"found the alias *{event.anchor}; YAML aliases are refused (they "
                f"can expand a small file without bound): write the value out", event.start_mark)
        return super().compose_node(parent, index)


def parse_yaml(text: str) -> Any:
    """``text`` parsed as YAML with the safe loader, aliases refused (the one YAML reader of
    every Seal file: configs, node parameters, model packages, label maps).

    Raises:
        yaml.YAMLError: not YAML, or it contains an alias (callers add the file name).
    """
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506  # a safe loader subclass


def _scalar(value: Any, hint: type, key: str) -> Any:
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        Path: isinstance(value, (str, Path)),
    }[hint]
    if not ok and hint is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            return float(value)
        except ValueError:
            pass
    if not ok:
        raise ConfigError(f"{key}: expected {_SCALARS[hint]}, got {value!r}")
    return hint(value)


def parse_enum(cls: type[E], value: Any, key: str) -> E:
    """The member of ``cls`` that ``value`` is or names.

    Raises:
        ConfigError: no such member; the message names ``key`` and the allowed values.
    """
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in cls)
        raise ConfigError(f"{key}: expected one of {allowed}, got {value!r}") from None


def _sequence(value: Any, origin: Any, args: tuple[Any, ...], key: str, noun: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    if origin is tuple and args and args[-1] is not Ellipsis:  # fixed length: tuple[int, int]
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {list(value)!r}")
        hints = args
    else:
        hints = (args[0] if args else Any,) * len(value)
    pairs = enumerate(zip(value, hints, strict=True))
    items = [_coerce(v, h, f"{key}[{i}]", noun) for i, (v, h) in pairs]
    return tuple(items) if origin is tuple else items


def _coerce(value: Any, hint: Any, key: str, noun: str) -> Any:
    """``value`` (as YAML or a caller gives it) converted to the type ``hint``; a ConfigError
    naming ``key`` and the expected type when it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(value, arg, key, noun)
                except ConfigError as err:
                    errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: cannot be {value!r}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return _build(hint, value, key, noun)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return parse_enum(hint, value, key)
    if origin in (list, tuple) or hint in (list, tuple):
        return _sequence(value, origin or hint, args, key, noun)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        item = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, item, f"{key}.{k}", noun) for k, v in value.items()}
    if hint in _SCALARS:
        return _scalar(value, hint, key)
    return value  # Any, or a hint this loader does not check


def _build(cls: type[T], data: Mapping[str, Any], prefix: str, noun: str) -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(typing.cast(Any, cls)) if f.init}
    unknown = sorted(set(data) - names)
    where = f"{prefix}." if prefix else ""
    if unknown:
        raise ConfigError(f"unknown {noun} {[where + k for k in unknown]} "
                          f"(known: {sorted(names)})")
    kwargs = {name: _coerce(value, hints[name], where + name, noun)
              for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from err


def to_dict(config: Any) -> Any:
    """Plain YAML-safe data (enums as their values, paths as strings, tuples as lists), also
    what a checkpoint stores, since it is read back weights-only."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)
                if f.init}
    if isinstance(config, enum.Enum):
        return config.value
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, mappings merged key by key."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a": {"c": 2}}`` -> ``{"a": {"b": 1, "c": 2}}`` (dotted keys, at any level,
    become nested mappings, as overrides and ROS 2's flattened parameters write them)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if isinstance(value, Mapping):
            value = nest(value)
        *parents, last = str(key).split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = merge(node[last], value) if isinstance(value, dict) and isinstance(
            node.get(last), dict) else value
    return out


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x, y]"]`` -> ``{"a.b": 1, "c": ["x", "y"]}`` (values parsed as YAML).

    Raises:
        ConfigError: an item without ``=`` or a key, or whose value is not YAML.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value (e.g. optim.lr=0.1)")
        try:
            overrides[key.strip()] = parse_yaml(raw) if raw.strip() else None
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({err})") from err
    return overrides


def read_yaml(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The top-level mapping of a YAML file (empty file: empty mapping).

    Raises:
        ConfigError: no such file, unreadable, not YAML, or not a mapping (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file")
    try:
        doc = parse_yaml(path.read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read {what} file: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return doc


def resolve(cls: type[T], *layers: tuple[str, Mapping[str, Any]], noun: str = "config keys"
            ) -> T:
    """The defaults of ``cls`` (every field has one) updated by each ``(source, mapping)`` layer
    in turn; mappings may use dotted keys.

    Each layer is checked with the ones before it, so an error names the source (a file, or ""
    for command-line values) of the layer that broke it. ``noun`` names the keys in the unknown-key
    message (``"config keys"``, ``"parameters"``).

    Raises:
        ConfigError: unknown key, wrongly typed value or a value the dataclass rejects.
    """
    data = to_dict(cls())
    config = None
    for source, layer in layers:
        data = merge(data, nest(layer))
        try:
            config = _build(cls, data, "", noun)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}" if source else str(err)) from err
    return config if config is not None else _build(cls, data, "", noun)


def load_config(cls: type[T], path: str | Path | None = None,
                overrides: Sequence[str] = ()) -> T:
    """Defaults of ``cls``, updated by the YAML file at ``path``, then by ``key=value``
    ``overrides``."""
    layers = [(str(path), read_yaml(path))] if path is not None else []
    return resolve(cls, *layers, ("", parse_overrides(overrides)))


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build ``cls`` from a (possibly partial) plain mapping, e.g. a config stored in a
    checkpoint."""
    return resolve(cls, ("", data))


def save_config(config: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML, atomically (what a run directory keeps)."""
    return write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
