"""Closed config options are enums: YAML keeps their plain names, bad values name the choices."""

from __future__ import annotations

import enum
from pathlib import Path

import pytest
import yaml

from seal_ros.errors import ConfigError
from seal_train.config import load_config, save_config, to_dict
from seal_train.engine.pretrain_config import (
    Backbone,
    Device,
    GridKind,
    PretrainConfig,
    Schedule,
    SuperpixelSourceName,
)

CHOICES: dict[str, type[enum.Enum]] = {
    "model.grid": GridKind, "optim.schedule": Schedule, "model.backbone": Backbone,
    "device": Device, "data.superpixel_source": SuperpixelSourceName}
MEMBERS = [(key, member) for key, kind in CHOICES.items() for member in kind]


def _get(cfg: PretrainConfig, key: str):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize(("key", "member"), MEMBERS, ids=[f"{k}={m.value}" for k, m in MEMBERS])
def test_each_choice_loads_from_its_name_and_saves_as_it(key: str, member: enum.Enum,
                                                         tmp_path: Path) -> None:
    cfg = load_config(PretrainConfig, overrides=[f"{key}={member.value}"])
    assert _get(cfg, key) is member
    saved = save_config(cfg, tmp_path / "config.yaml")
    section, *rest = key.split(".")
    text = yaml.safe_load(saved.read_text())
    assert (text[section][rest[0]] if rest else text[section]) == member.value
    assert f": {member.value}\n" in saved.read_text()  # a plain YAML string, no enum tag
    assert load_config(PretrainConfig, saved) == cfg


@pytest.mark.parametrize("key", sorted(CHOICES))
def test_a_bad_choice_names_the_key_and_the_allowed_values(key: str) -> None:
    allowed = ", ".join(m.value for m in CHOICES[key])
    with pytest.raises(ConfigError, match=rf"^{key}: expected one of {allowed}, got 'nope'$"):
        load_config(PretrainConfig, overrides=[f"{key}=nope"])


def test_choices_match_the_registries_they_name() -> None:
    from seal_ros.core.minkunet import BACKBONES
    from seal_train.superpixels.sources import SOURCES

    assert {b.value for b in Backbone} == set(BACKBONES)
    assert {s.value for s in SuperpixelSourceName} == set(SOURCES)


def test_defaults_store_plain_strings() -> None:
    """What a checkpoint keeps: strings only, as before the enums (read back weights-only)."""
    stored = to_dict(PretrainConfig())
    assert (stored["model"]["grid"], stored["optim"]["schedule"], stored["device"]) == (
        "cylindrical", "cosine", "auto")
    assert all(type(v) is str for v in (stored["model"]["backbone"],
                                        stored["data"]["superpixel_source"]))
