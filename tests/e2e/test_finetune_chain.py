"""The few-label chain from the command line, as a user runs it: ``pretrain`` -> ``finetune
--labels 1%`` -> ``export`` -> ``python -m seal_ros.replay`` of the val scene's bag; replay's mIoU
equals ``evaluate --checkpoint``'s (vehicle path: onnxruntime; offline path: spconv)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from seal_ros.replay import replay
from seal_train.__main__ import main
from seal_train.synth import SynthConfig
from seal_train.synth.formats import write_drive

pytestmark = pytest.mark.slow


def _cli(*argv: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(list(argv)) == 0, argv
    return printed.getvalue()


def test_pretrain_finetune_export_replay(tmp_path: Path) -> None:
    config = SynthConfig(image_width=96, image_height=54, lidar_azimuth_steps=512)
    drive = write_drive(tmp_path / "drive", scenes=2, frames=4, seed=5,
                        formats=("nuscenes", "rosbag"), config=config)
    data = drive["nuscenes"]
    small = ["model.width=0.125", "device=cpu", "data.workers=0"]
    _cli("pretrain", f"data.path={data}", f"run_dir={tmp_path / 'pre'}", "epochs=1",
         "batch_size=2", *small)
    pretrained = tmp_path / "pre" / "last.pt"
    text = _cli("finetune", "--checkpoint", str(pretrained), "--labels", "1%",
                f"data.path={data}", f"out_dir={tmp_path / 'ft'}", "epochs=6", "val_every=3",
                "device=cpu", "data.workers=0")
    best = tmp_path / "ft" / "best.pt"
    assert "on 1 labelled frames (1%: every 100th of 4 train frames: 1 frames)" in text
    assert f"python -m seal_train export --checkpoint {best}" in text
    listed = (tmp_path / "ft" / "labelled_frames.txt").read_text().splitlines()
    assert len(listed) == 2 and listed[0].startswith("# 1%")

    package = tmp_path / "pkg"
    _cli("export", "--checkpoint", str(best), "--out", str(package), "--format", "onnx")
    spec = yaml.safe_load((package / "model.yaml").read_text())
    assert spec["class_names"][4] == "car" and len(spec["palette"]) == len(spec["class_names"])

    evaluated = _cli("evaluate", "--checkpoint", str(best), "--out", str(tmp_path / "eval"))
    offline = yaml.safe_load((tmp_path / "eval" / "scores.yaml").read_text())
    assert f"**{100 * offline['miou']:.2f}**" in evaluated
    vehicle = replay(drive["rosbag"] / "scene-0001", model=package, engine="onnxruntime",
                     overrides={"threads": 2}, progress=False)
    assert vehicle.processed == 4 and vehicle.evaluated_points == sum(map(sum, offline["matrix"]))
    for name, iou in vehicle.iou.items():
        assert iou == pytest.approx(offline["iou"][name], abs=1e-3, nan_ok=True), name
    assert vehicle.miou == pytest.approx(offline["miou"], abs=1e-3)
