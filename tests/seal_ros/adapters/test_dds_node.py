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


def _mangled(msg, good: bytes, bad: bytes):
    """``msg`` whose serialised bytes have ``good`` replaced by ``bad`` (same type, so it
    matches the node's reader, but the node cannot deserialise it)."""
    serialize = msg.serialize
    msg.serialize = lambda **kw: serialize(**kw).replace(good, bad)
    return msg


@pytest.mark.timeout(120)
def test_undecodable_samples_are_counted_and_the_reader_goes_on(tmp_path):
    """A cloud whose field name is not UTF-8 (Cyclone raises inside take) and one whose layout
    the converter refuses are skips counted per reason; the good cloud after them is segmented."""
    import io
    import os
    import threading
    import time

    from seal_ros.adapters import dds, dds_node, dds_types
    from seal_ros.node.topics import TopicNames
    from support.node_helpers import cloud_message, random_scan, write_package

    domain = 1 + (os.getpid() * 7 + 113) % 200
    package = write_package(tmp_path / "pkg")
    params = build_params(make_parser().parse_args(["--model", str(package), "--engine",
                                                    "gather"]))
    names = TopicNames("/seal_segmentation")
    stop = threading.Event()
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(
        node=dds_node.run(params, names, domain, stop, out=io.StringIO())), daemon=True)
    thread.start()
    try:
        with dds.DdsTransport(dds.DdsConfig(domain_id=domain)) as transport:
            pub = transport.publisher("/seal_segmentation/input/pointcloud",
                                      dds_types.PointCloud2_, dds.SENSOR_DATA)
            seg = transport.subscriber("/seal_segmentation/output/segmentation",
                                       dds_types.PointCloud2_, dds.SENSOR_DATA)
            assert pub.wait_for_subscribers(1, timeout_s=30)
            assert seg.wait_for_publishers(1, timeout_s=30)
            time.sleep(0.5)

            def cloud(seed: int, name: str = "intensity"):
                msg = dds_types.to_dds(cloud_message(random_scan(3000, seed)))
                msg.fields[3].name = name
                return msg

            pub.publish(_mangled(cloud(0, "QQQQQQQQQ"), b"QQQQQQQQQ", b"\xff\xfe" * 4 + b"Q"))
            time.sleep(0.3)
            overlap = cloud(1)
            overlap.fields[3].offset = 2  # overlaps y: a layout error, not a crash
            pub.publish(overlap)
            time.sleep(0.3)
            pub.publish(cloud(2))
            got = []
            deadline = time.monotonic() + 30
            while not got and time.monotonic() < deadline:
                got = seg.take(timeout_s=0.5)
            assert len(got) == 1 and got[0].width == 3000
    finally:
        stop.set()
        thread.join(timeout=60)
    counters = result["node"].counters
    assert counters.skipped == {"undecodable": 1, "bad_layout": 1}
    assert counters.processed == 1
