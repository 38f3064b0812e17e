"""The DDS node's command line: help, parameter precedence, topic names, errors before DDS."""

from __future__ import annotations

import pytest

from seal_ros.adapters.dds_node import build_params, main, make_parser
from seal_ros.config_files import parse_overrides
from seal_ros.errors import ConfigError
from seal_ros.node.topics import TopicNames


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--params", "--model", "--engine", "--input", "--output-prefix", "--cameras",
                 "--remap", "--domain-id", "--set"):
        assert flag in text


def test_parameters_file_then_set_then_flags(tmp_path):
    path = tmp_path / "segment.param.yaml"
    path.write_text("/**:\n  ros__parameters:\n    engine: onnxruntime\n    queue_size: 3\n"
                    "    filter:\n      classes: [car]\n")
    args = make_parser().parse_args([
        "--params", str(path), "--set", "queue_size=2", "--set", "filter.classes=[bus, car]",
        "--engine", "gather", "--model", "pkg/", "--cameras", "cam_front,cam_back"])
    params = build_params(args)
    assert (params.engine, params.queue_size, params.model_path) == ("gather", 2, "pkg/")
    assert params.filter.classes == ("bus", "car")
    assert params.cameras.names == ("cam_front", "cam_back")
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["queue_size"])
    with pytest.raises(ConfigError, match="unknown parameters \\['queu_size'\\]"):
        build_params(make_parser().parse_args(["--set", "queu_size=2"]))


def test_topic_names_expand_and_remap():
    names = TopicNames("/seal_segmentation/", {"~/input/pointcloud": "/points"})
    assert names("~/input/pointcloud") == "/points"
    assert names("~/output/segmentation") == "/seal_segmentation/output/segmentation"
    assert names("/diagnostics") == "/diagnostics"
    assert TopicNames("front_seg")("~/output/info") == "/front_seg/output/info"


def test_bad_model_fails_with_one_error_line(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "none.yaml"), "--engine", "gather"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "none.yaml: no such model package" in err
    assert main(["--engine", "gather"]) == 1
    assert "give --model" in capsys.readouterr().err
    assert main(["--model", "x", "--remap", "bad"]) == 1
    assert "FROM:=TO" in capsys.readouterr().err
