"""Model package YAML: round trip, relative paths, and errors that name the file and the key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from seal_ros.core.voxelize import VoxelGrid
from seal_ros.errors import ConfigError
from seal_ros.model_package import InputSpec, ModelPackage, Profile


def _package(tmp_path: Path) -> ModelPackage:
    return ModelPackage(
        model_id="seal-test", onnx=(tmp_path / "model.onnx").resolve(),
        class_names=("ignore", "road", "car"), palette=((0, 0, 0), (128, 64, 128), (0, 0, 142)),
        ignore_id=0, grid=VoxelGrid.cartesian(0.05),
        input=InputSpec(fields=("x", "y", "z", "intensity", "ring"), features=("intensity",),
                        feature_scale=(255.0,)),
        profile=Profile(points=(10, 100, 1000), voxels=(5, 50, 500)),
        network={"backbone": "minkunet18", "num_classes": 3})


def test_saves_and_loads_the_same_package_with_a_relative_onnx(tmp_path):
    package = _package(tmp_path)
    path = package.save(tmp_path / "pkg" / "model.yaml")
    raw = yaml.safe_load(path.read_text())
    assert Path(raw["onnx"]) == package.onnx  # outside the folder: kept absolute
    (tmp_path / "pkg" / "model.onnx").touch()
    inside = dataclasses.replace(package, onnx=(tmp_path / "pkg" / "model.onnx").resolve())
    path = inside.save(tmp_path / "pkg" / "model.yaml")
    assert yaml.safe_load(path.read_text())["onnx"] == "model.onnx"  # moves with its folder
    loaded = ModelPackage.load(tmp_path / "pkg")  # a folder means its model.yaml
    assert loaded.path == path
    assert loaded.onnx == (tmp_path / "pkg" / "model.onnx").resolve()
    for field in ("model_id", "class_names", "palette", "ignore_id", "grid", "input", "profile",
                  "network"):
        assert getattr(loaded, field) == getattr(inside, field), field
    assert loaded.num_classes == 3


@pytest.mark.parametrize("change, message", [
    ({"colour": 1}, "unknown keys \\['colour'\\]"),
    ({"palette": [[0, 0, 0], [1, 2, 3]]}, "palette has 2 colours for 3 classes"),
    ({"palette": [[0, 0, 0], [1, 2, 3], [1, 2, 300]]}, "palette\\[2\\]"),
    ({"ignore_id": 7}, "ignore_id 7"),
    ({"network": {"num_classes": 4}}, "num_classes 4 != 3"),
    ({"profile": {"points": [100, 10, 1000]}}, "profile.points"),
    ({"input": {"fields": ["x", "y", "intensity"]}}, "must contain 'z'"),
    ({"format_version": 9}, "format_version 9"),
    # wrong types: each names its key and what was expected (no traceback)
    ({"ignore_id": "abc"}, "ignore_id: expected an integer, got 'abc'"),
    ({"class_names": 5}, "class_names: expected a list, got int 5"),
    ({"onnx": None}, "onnx: expected a non-empty string, got None"),
    ({"palette": [[0, 0, 0], ["a", 2, 3], [1, 2, 3]]},
     "palette\\[1\\]\\[0\\]: expected an integer"),
    ({"input": {"fields": ["x", "y", "z", "intensity"], "features": ["intensity"],
                "feature_scale": ["a"]}}, "input.feature_scale\\[0\\]: expected a finite number"),
    ({"voxel": {"kind": "cartesian", "cell_size": [0.1, 0.1, 0.1], "size": 2}},
     "unknown keys \\['voxel.size'\\]"),
    ({"voxel": {"kind": "cartesian", "cell_size": [0.1, ".nan", 0.1]}},
     "voxel.cell_size\\[1\\]"),
    ({"voxel": {"kind": "cartesian", "cell_size": [0.1, float("inf"), 0.1]}},
     "voxel.cell_size\\[1\\]: expected a finite number"),
    ({"voxel": {"kind": "cartesian", "cell_size": [1e-9, 0.1, 0.1]}},
     "cell_size must be 3 finite"),
    ({"voxel": {"kind": "hexagonal"}}, "voxel.kind"),
    ({"profile": {"points": [1, 2]}}, "profile.points: expected 3 values"),
    ({"network": [1]}, "network: expected a mapping"),
    ({"onnx": "../elsewhere/model.onnx"}, "outside the package folder"),
    ({"onnx": "/etc/passwd"}, "outside the package folder"),
    ({"checkpoint": "../model.pt"}, "checkpoint: '../model.pt' resolves to .*outside"),
])
def test_bad_packages_name_the_file_and_the_key(tmp_path, change, message):
    path = _package(tmp_path).save(tmp_path / "model.yaml")
    data = yaml.safe_load(path.read_text())
    data.update(change)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message) as err:
        ModelPackage.load(path)
    assert str(path) in str(err.value)


def test_files_outside_the_folder_load_when_allowed(tmp_path):
    path = _package(tmp_path).save(tmp_path / "pkg" / "model.yaml")  # onnx in tmp_path
    with pytest.raises(ConfigError, match="onnx: .* outside the package folder"):
        ModelPackage.load(path)
    assert ModelPackage.load(path, allow_outside=True).onnx == (tmp_path / "model.onnx").resolve()


def test_missing_key_missing_file_and_bad_yaml(tmp_path):
    path = _package(tmp_path).save(tmp_path / "model.yaml")
    data = yaml.safe_load(path.read_text())
    del data["class_names"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="missing key 'class_names'"):
        ModelPackage.load(path)
    with pytest.raises(ConfigError, match="no such model package"):
        ModelPackage.load(tmp_path / "none.yaml")
    path.write_text("model_id: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        ModelPackage.load(path)


def test_engine_class_count_must_match(tmp_path):
    package = _package(tmp_path)
    package.check_engine_classes(3)
    with pytest.raises(ConfigError, match="engine outputs 5 classes but the package lists 3"):
        package.check_engine_classes(5)


def test_yaml_alias_bomb_is_refused_fast_and_small(tmp_path):
    import time
    import tracemalloc

    path = _package(tmp_path).save(tmp_path / "model.yaml")
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    text = path.read_text().replace("class_names:", "\n".join(lines) + "\nclass_names_old:")
    path.write_text(text.replace("class_names_old:", "class_names: *a9\nx_old:"))
    assert path.stat().st_size < 2000  # 9**10 strings once expanded
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="aliases are refused") as err:
        ModelPackage.load(path)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 1.0 and peak < 20 * 2**20
    assert str(path) in str(err.value)
