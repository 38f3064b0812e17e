"""Config: defaults, YAML, overrides, and errors for unknown keys and bad types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from seal_ros.errors import ConfigError
from seal_train.config import load_config, save_config


@dataclass(frozen=True)
class Optim:
    lr: float = 0.5
    momentum: float = 0.9


@dataclass(frozen=True)
class Run:
    name: str = "run"
    epochs: int = 10
    data: Path | None = None
    amp: bool = False
    layers: tuple[int, ...] = (2, 3)
    optim: Optim = field(default_factory=Optim)


def test_defaults_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\noptim: {lr: 0.1}\n")
    cfg = load_config(Run, path, ["optim.momentum=5e-1", "data=/x/y", "layers=[1, 2, 4]"])
    assert cfg == Run(epochs=3, data=Path("/x/y"), layers=(1, 2, 4), optim=Optim(0.1, 0.5))
    saved = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(Run, saved) == cfg


def test_unknown_keys_and_wrong_types_fail():
    with pytest.raises(ConfigError, match=r"unknown config keys \['optim.lrr'\]"):
        load_config(Run, overrides=["optim.lrr=1"])
    with pytest.raises(ConfigError, match="epochs: expected an integer, got 'ten'"):
        load_config(Run, overrides=["epochs=ten"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(Run, overrides=["epochs"])
    with pytest.raises(ConfigError, match="amp: expected true/false"):
        load_config(Run, overrides=["amp=1"])


def test_shipped_pretrain_configs_load():
    from seal_train.engine.pretrain_config import PretrainConfig

    configs = sorted((Path(__file__).resolve().parents[2] / "seal_train" / "configs" / "pretrain")
                     .glob("*.yaml"))
    assert configs
    for path in configs:
        cfg = load_config(PretrainConfig, path)
        assert cfg.model.backbone == "minkunet34" and cfg.teacher.output_stride == 4
