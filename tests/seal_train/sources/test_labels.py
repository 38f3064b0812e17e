"""Built-in label maps reproduce SLidR's nuScenes mapping and SemanticKITTI's 19 classes."""

from __future__ import annotations

import numpy as np
import pytest

from seal_train.errors import DatasetError
from seal_train.sources import LabelMap, load_label_map


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
    with pytest.raises(DatasetError, match=r"frame x: 2 points carry raw label ids \[7, 70000\]"):
        LabelMap.builtin("semantic-kitti").to_train(np.array([10, 7, 70000]), where="frame x")


def test_custom_yaml_and_bad_files(tmp_path):
    path = tmp_path / "poss.yaml"
    path.write_text("labels: {0: unlabeled, 4: person, 22: ground}\n"
                    "learning_map: {0: 0, 4: 1, 22: 2}\nlearning_map_inv: {0: 0, 1: 4, 2: 22}\n")
    custom = load_label_map(path)
    assert custom.class_names == ("unlabeled", "person", "ground")
    assert custom.to_train(np.array([22, 4])).tolist() == [2, 1]
    bad = tmp_path / "bad.yaml"
    bad.write_text("labels: {0: a}\n")
    with pytest.raises(DatasetError, match="lacks .*learning_map"):
        load_label_map(bad)
    with pytest.raises(DatasetError, match="unknown label map 'kitti'"):
        LabelMap.builtin("kitti")
