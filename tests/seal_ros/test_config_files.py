"""The one typed config loader: coercion of every supported type, layers, overrides, errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from seal_ros.config_files import (
    from_dict,
    load_config,
    nest,
    parse_enum,
    parse_overrides,
    read_yaml,
    resolve,
    save_config,
    to_dict,
)
from seal_ros.errors import ConfigError
from support.imports import modules_loaded_by, top_level


class Colour(enum.StrEnum):
    RED = "red"
    DARK_BLUE = "dark-blue"


@dataclass(frozen=True)
class Inner:
    colour: Colour = Colour.RED
    size: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    count: int = 1
    rate: float = 0.5
    on: bool = False
    path: Path | None = None
    names: tuple[str, ...] = ()
    table: dict[str, list[float]] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count must be >= 0")


def test_file_then_overrides_with_every_type(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("count: 3\ninner: {colour: dark-blue}\ninner.size: [1, 2, 3]\n"
                    "table: {a: [1, 2]}\n")
    cfg = load_config(Outer, path, ["rate=1e-3", "path=/x/y", "names=[a, b]", "on=true",
                                    "table.b=[3]", "inner.colour=red"])
    assert cfg == Outer(count=3, rate=1e-3, on=True, path=Path("/x/y"), names=("a", "b"),
                        table={"a": [1.0, 2.0], "b": [3.0]},
                        inner=Inner(Colour.RED, (1.0, 2.0, 3.0)))
    assert isinstance(cfg.inner.colour, Colour) and isinstance(cfg.inner.size[0], float)


@pytest.mark.parametrize("colour", list(Colour))
def test_saved_config_reads_back_with_enums_as_plain_names(colour: Colour, tmp_path: Path
                                                           ) -> None:
    cfg = Outer(path=Path("/p"), names=("a",), inner=Inner(colour))
    saved = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert yaml.safe_load(saved.read_text())["inner"]["colour"] == colour.value
    assert type(to_dict(cfg)["inner"]["colour"]) is str  # plain: checkpoints load weights-only
    assert load_config(Outer, saved) == cfg == from_dict(Outer, to_dict(cfg))
    assert [p.name for p in saved.parent.iterdir()] == ["config.yaml"]  # no temporary left


def test_errors_name_the_file_the_key_and_what_was_expected(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("inner: {colour: green}\n")
    with pytest.raises(ConfigError, match=r"c.yaml: inner.colour: expected one of red, "
                                          r"dark-blue, got 'green'"):
        load_config(Outer, path)
    with pytest.raises(ConfigError, match=r"^count: expected an integer, got 'ten'$"):
        load_config(Outer, overrides=["count=ten"])
    with pytest.raises(ConfigError, match=r"inner.size: expected 3 values, got \[1, 2\]"):
        load_config(Outer, overrides=["inner.size=[1, 2]"])
    with pytest.raises(ConfigError, match=r"table.a\[0\]: expected a number, got 'x'"):
        load_config(Outer, overrides=["table.a=[x]"])
    with pytest.raises(ConfigError, match=r"on: expected true/false, got 1"):
        load_config(Outer, overrides=["on=1"])
    with pytest.raises(ConfigError, match=r"unknown config keys \['inner.colour_'\] \(known: "
                                          r"\['colour', 'size'\]\)"):
        load_config(Outer, overrides=["inner.colour_=red"])
    with pytest.raises(ConfigError, match=r"unknown parameters \['nme'\]"):
        resolve(Outer, ("", {"nme": "y"}), noun="parameters")
    with pytest.raises(ConfigError, match=r"Outer: count must be >= 0"):
        load_config(Outer, overrides=["count=-1"])


def test_an_error_names_the_layer_that_made_it(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("count: 2\n")
    bad.write_text("count: two\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: count"):
        resolve(Outer, (str(good), read_yaml(good)), (str(bad), read_yaml(bad)))
    with pytest.raises(ConfigError, match=r"^rate: expected a number") as info:
        load_config(Outer, good, ["rate=fast"])
    assert "good.yaml" not in str(info.value)  # the file is fine; the override is not


def test_unreadable_files_and_bad_overrides(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"none.yaml: no such config file"):
        read_yaml(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match=r"list.yaml: expected a mapping at the top level"):
        read_yaml(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("a: [\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: not valid YAML"):
        read_yaml(tmp_path / "broken.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") == {}
    with pytest.raises(ConfigError, match=r"override 'count': expected key=value"):
        parse_overrides(["count"])
    assert parse_overrides(["a.b=1", "c=[x, y]", "d="]) == {"a.b": 1, "c": ["x", "y"],
                                                            "d": None}


def test_nest_merges_dotted_and_nested_keys() -> None:
    assert nest({"a.b": 1, "a": {"c": 2, "d.e": 3}}) == {"a": {"b": 1, "c": 2, "d": {"e": 3}}}


def test_parse_enum_accepts_members_and_names() -> None:
    assert parse_enum(Colour, "dark-blue", "colour") is Colour.DARK_BLUE
    assert parse_enum(Colour, Colour.RED, "colour") is Colour.RED
    with pytest.raises(ConfigError, match=r"^colour: expected one of red, dark-blue, got 'x'$"):
        parse_enum(Colour, "x", "colour")


def test_config_readers_do_not_import_torch() -> None:
    """The model package YAML (with its voxel grid), node parameters and training configs."""
    loaded = modules_loaded_by("seal_ros.model_package", "seal_ros.node.params",
                               "seal_train.config", "seal_train.engine.pretrain_config")
    assert "torch" not in top_level(loaded)
