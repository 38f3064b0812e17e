"""Label maps: the built-in maps (SLidR's nuScenes mapping, SemanticKITTI's 19 classes), the one
YAML reader's errors, and the raw id -> package class matching the replay scores with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seal_ros.errors import ConfigError
from seal_ros.labels import (
    BUILTIN_DIR,
    LabelMap,
    find_label_map,
    load_label_map,
    match_package,
    palette_for,
)
from seal_ros.model_package import ModelPackage


def _package(names):
    return ModelPackage(model_id="m", onnx=Path("m.onnx"), class_names=tuple(names),
                        palette=tuple((i, i, i) for i in range(len(names))), ignore_id=0)


def test_nuscenes_map_is_slidr_mapping():
    nus = LabelMap.builtin("nuscenes")
    assert nus.num_classes == 16
    assert nus.class_names[4] == "car" and nus.class_names[16] == "vegetation"
    raw = np.arange(32)
    expected = [0, 0, 7, 7, 7, 0, 7, 0, 0, 1, 0, 0, 8, 0, 2, 3, 3, 4, 5, 0, 0, 6, 9, 10, 11, 12,
                13, 14, 15, 0, 16, 0]
    assert nus.to_train(raw).tolist() == expected
    assert nus.palette.shape == (17, 3) and nus.palette.dtype == np.uint8


def test_semantic_kitti_map():
    kitti = load_label_map("semantic-kitti")
    assert kitti.num_classes == 19
    assert kitti.class_names[1] == "car" and kitti.class_names[19] == "traffic-sign"
    assert kitti.to_train(np.array([10, 252, 40, 60, 0, 99])).tolist() == [1, 1, 9, 9, 0, 0]
    assert kitti.palette[1].tolist() == [100, 150, 245]  # car colour, BGR in the file


def test_unknown_raw_ids_are_an_error_not_a_drop():
    with pytest.raises(ConfigError, match=r"frame x: 2 points carry raw label ids \[7, 70000\]"):
        LabelMap.builtin("semantic-kitti").to_train(np.array([10, 7, 70000]), where="frame x")


def test_custom_yaml_and_bad_files(tmp_path):
    path = tmp_path / "poss.yaml"
    path.write_text("labels: {0: unlabeled, 4: person, 22: ground}\n"
                    "learning_map: {0: 0, 4: 1, 22: 2}\nlearning_map_inv: {0: 0, 1: 4, 2: 22}\n")
    custom = load_label_map(path)
    assert custom.class_names == ("unlabeled", "person", "ground")
    assert custom.to_train(np.array([22, 4])).tolist() == [2, 1]
    assert custom.source == str(path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: {0: a}\n")
    with pytest.raises(ConfigError, match="lacks .*learning_map"):
        load_label_map(bad)
    with pytest.raises(ConfigError, match="unknown label map 'kitti'"):
        LabelMap.builtin("kitti")


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]", "label map is list, expected the semantic-kitti.yaml layout"),
    ("labels: {0: a}\nlearning_map: [0, 1]\nlearning_map_inv: {0: 0}\n",
     "learning_map is list, expected a mapping"),
    ("labels: {0: a, 1: b}\nlearning_map: {0: 0, 1: x}\nlearning_map_inv: {0: 0, 1: 1}\n",
     "learning_map entry 1: 'x'"),
    ("labels: {0: a, 1: b}\nlearning_map: {0: 0, 1.5: 1}\nlearning_map_inv: {0: 0, 1: 1}\n",
     "learning_map entry 1.5: 1: expected an integer"),
    ("labels: {0: a, 1: b}\nlearning_map: {0: 0, 1: 1}\nlearning_map_inv: {0: 0, 2: 1}\n",
     r"learning_map_inv lists classes \[0, 2\], expected 0..K-1"),
    ("labels: {0: a, 1: b}\nlearning_map: {0: 0, 1: 5}\nlearning_map_inv: {0: 0, 1: 1}\n",
     r"learning_map entries \{1: 5\} are not raw id >= 0 -> class 0..1"),
    ("labels: {0: a, 1: b}\nlearning_map: {0: 0, -3: 1}\nlearning_map_inv: {0: 0, 1: 1}\n",
     r"learning_map entries \{-3: 1\}"),
    ("labels: {0: a, 1: b}\nlearning_map: {}\nlearning_map_inv: {0: 0, 1: 1}\n",
     "learning_map is empty"),
    ("labels: {0: a, 1: b}\nlearning_map: {0: 0, 1: 1}\nlearning_map_inv: {0: 0, 1: 1}\n"
     "class_names: [ignore]\n", "class_names must name the 2 classes"),
    ("labels: {0: a, 1: b}\nlearning_map: {0: 0, 1: 1}\nlearning_map_inv: {0: 0, 1: 1}\n"
     "color_map: {0: [0, 0, 0], 1: [300, 0, 0]}\n",
     r"color_map entry 1: \[300, 0, 0\]: expected \[B"),
])
def test_bad_entries_name_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        LabelMap.from_yaml(path)
    assert str(err.value).startswith(f"{path}: ")


def test_yaml_round_trip_of_a_map_built_in_code(tmp_path):
    palette = np.array([[0, 0, 0], [10, 20, 30], [40, 50, 60]], dtype=np.uint8)
    label_map = LabelMap("mine", {0: "none", 7: "a", 9: "b"}, {0: 0, 7: 1, 9: 2},
                         ("ignore", "a", "b"), palette)
    (tmp_path / "mine.yaml").write_text(label_map.to_yaml())
    again = LabelMap.from_yaml(tmp_path / "mine.yaml")
    assert (again.name, again.learning_map, again.class_names) == (
        "mine", label_map.learning_map, label_map.class_names)
    np.testing.assert_array_equal(again.palette, palette)
    assert LabelMap.builtin("nuscenes").to_yaml() == (BUILTIN_DIR / "nuscenes.yaml").read_text()


def test_palette_of_a_builtin_class_list_and_of_others():
    nus = LabelMap.builtin("nuscenes")
    np.testing.assert_array_equal(palette_for(nus.class_names), nus.palette)
    other = palette_for(["ignore", "a", "b"])
    assert other.shape == (3, 3) and other.dtype == np.uint8 and other[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in other[1:]}) == 2


@pytest.mark.parametrize("name", ["nuscenes", "semantic-kitti"])
def test_package_matching_equals_the_training_classes(name):
    reference = LabelMap.builtin(name)
    mapping = match_package(LabelMap.from_yaml(BUILTIN_DIR / f"{name}.yaml"),
                            _package(reference.class_names))
    raw = np.array(sorted(reference.learning_map))
    expected = reference.to_train(raw)
    expected[expected == 0] = -1  # the ignore class is not evaluated
    np.testing.assert_array_equal(mapping.to_package(raw), expected)
    assert mapping.unmatched == ()
    assert mapping.to_package(np.array([10_000]))[0] == -1  # unknown raw id: not evaluated


def test_classes_match_by_name_in_any_order():
    reference = LabelMap.builtin("nuscenes")
    names = ["ignore", "car", "vegetation", "pedestrian"]  # a package with fewer classes
    mapping = match_package(reference, _package(names))
    raw = np.array([17, 30, 2, 24, 0])  # car, vegetation, adult pedestrian, driveable, noise
    np.testing.assert_array_equal(mapping.to_package(raw), [1, 2, 3, -1, -1])
    assert "driveable_surface" in mapping.unmatched
    assert len(mapping.unmatched) == len(reference.class_names) - 4


def test_bad_label_maps_for_a_package(tmp_path):
    with pytest.raises(ConfigError, match="none of its classes"):
        match_package(LabelMap.builtin("nuscenes"), _package(["ignore", "road", "cat"]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: {0: a}\n")
    with pytest.raises(ConfigError, match="learning_map"):
        LabelMap.from_yaml(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        LabelMap.from_yaml(tmp_path / "missing.yaml")


def test_label_map_found_in_or_beside_the_bag(tmp_path):
    bag = tmp_path / "bags" / "scene-0000"
    bag.mkdir(parents=True)
    assert find_label_map(bag) is None
    (tmp_path / "bags" / "labels.yaml").write_text("x")
    assert find_label_map(bag) == tmp_path / "bags" / "labels.yaml"
    (bag / "labels.yaml").write_text("x")
    assert find_label_map(bag) == bag / "labels.yaml"
