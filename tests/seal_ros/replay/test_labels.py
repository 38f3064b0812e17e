"""Label maps read by the replay agree with the training code's reader and match package classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seal_ros.errors import ConfigError
from seal_ros.model_package import ModelPackage
from seal_ros.replay.labels import find_label_map, load_label_mapping
from seal_train.sources.labels import LabelMap

LABELS = Path(__file__).resolve().parents[3] / "seal_train" / "configs" / "labels"


def _package(names):
    return ModelPackage(model_id="m", onnx=Path("m.onnx"), class_names=tuple(names),
                        palette=tuple((i, i, i) for i in range(len(names))), ignore_id=0)


@pytest.mark.parametrize("name", ["nuscenes", "semantic-kitti"])
def test_mapping_equals_the_training_label_map(name):
    reference = LabelMap.builtin(name)
    mapping = load_label_mapping(LABELS / f"{name}.yaml", _package(reference.class_names))
    raw = np.array(sorted(reference.learning_map))
    expected = reference.to_train(raw)
    expected[expected == 0] = -1  # the ignore class is not evaluated
    np.testing.assert_array_equal(mapping.to_package(raw), expected)
    assert mapping.unmatched == ()
    assert mapping.to_package(np.array([10_000]))[0] == -1  # unknown raw id: not evaluated


def test_classes_match_by_name_in_any_order():
    reference = LabelMap.builtin("nuscenes")
    names = ["ignore", "car", "vegetation", "pedestrian"]  # a package with fewer classes
    mapping = load_label_mapping(LABELS / "nuscenes.yaml", _package(names))
    raw = np.array([17, 30, 2, 24, 0])  # car, vegetation, adult pedestrian, driveable, noise
    np.testing.assert_array_equal(mapping.to_package(raw), [1, 2, 3, -1, -1])
    assert "driveable_surface" in mapping.unmatched
    assert len(mapping.unmatched) == len(reference.class_names) - 4


def test_bad_label_maps(tmp_path):
    with pytest.raises(ConfigError, match="none of its classes"):
        load_label_mapping(LABELS / "nuscenes.yaml", _package(["ignore", "road", "cat"]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: {0: a}\n")
    with pytest.raises(ConfigError, match="learning_map"):
        load_label_mapping(bad, _package(["ignore", "a"]))
    with pytest.raises(ConfigError, match="cannot read"):
        load_label_mapping(tmp_path / "missing.yaml", _package(["ignore", "a"]))


def test_label_map_found_in_or_beside_the_bag(tmp_path):
    bag = tmp_path / "bags" / "scene-0000"
    bag.mkdir(parents=True)
    assert find_label_map(bag) is None
    (tmp_path / "bags" / "labels.yaml").write_text("x")
    assert find_label_map(bag) == tmp_path / "bags" / "labels.yaml"
    (bag / "labels.yaml").write_text("x")
    assert find_label_map(bag) == bag / "labels.yaml"
