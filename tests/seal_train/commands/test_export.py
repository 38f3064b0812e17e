"""``seal_train export``: a pretraining checkpoint + probe head become a loadable model package
whose ONNX equals the spconv network with the probe head on top; bad inputs fail clearly.

One export of a random-weight MinkUNet18 at width 1/8 (unoptimised graph, the default
TorchScript exporter; ``test_onnx`` covers both exporters) with the head that ``probe`` trains on
it over a two-scene synthetic drive is shared by the module.
The reference is independent of the exporter: spconv MinkUNet features, then the probe's
``nn.Linear``, as ``seal_train probe`` computes them. Tolerance 1e-4 relative to max |logit|
(DESIGN.md decision 2). The chain test replays the val scene's bag through the package and gets
``evaluate``'s scores.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seal_ros.core.engines import GatherEngine, OnnxRuntimeEngine
from seal_ros.core.voxelize import VoxelGrid, voxelize
from seal_ros.errors import ExportError
from seal_ros.labels import LabelMap
from seal_ros.model_package import ModelPackage
from seal_ros.replay import replay
from seal_train.__main__ import main
from seal_train.config import load_config, to_dict
from seal_train.engine.pretrain_config import Backbone, GridKind, ModelConfig, PretrainConfig
from seal_train.engine.probe import ProbeConfig, evaluate, probe
from seal_train.export.package import PACKAGE_NAME, _prepare_dir, scan_inputs
from seal_train.export.source import load_export_source
from seal_train.models import build_backbone
from seal_train.synth import SynthConfig
from seal_train.synth.formats import write_drive
from support.networks import scan_tensors

MODEL = ModelConfig(backbone=Backbone.MINKUNET18, width=0.125, grid=GridKind.CARTESIAN,
                    voxel_size=0.1)
NUSCENES = LabelMap.builtin("nuscenes")


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small synthetic scenes as nuScenes (the probe's data) and rosbag2 (replay's)."""
    config = SynthConfig(image_width=96, image_height=54, lidar_azimuth_steps=512)
    return write_drive(tmp_path_factory.mktemp("drive"), scenes=2, frames=2, seed=4,
                       formats=("nuscenes", "rosbag"), config=config)


@pytest.fixture(scope="module")
def trained(drive, tmp_path_factory: pytest.TempPathFactory):
    """A pretraining-style checkpoint (non-trivial BatchNorm stats) and the head that ``probe``
    trains on it over the drive's train scene."""
    root = tmp_path_factory.mktemp("trained")
    torch.manual_seed(0)
    backbone = build_backbone(MODEL, in_channels=1)
    with torch.no_grad():
        for m in backbone.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    backbone.eval()
    checkpoint = root / "last.pt"
    model_state = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    model_state["point_head.weight"] = torch.randn(64, 12)  # pretraining-only, not exported
    torch.save({"model": model_state, "config": to_dict(PretrainConfig(model=MODEL)),
                "state": {"epoch": 1, "step": 10}}, checkpoint)
    result = probe(load_config(ProbeConfig, overrides=[
        f"checkpoint={checkpoint}", f"data.path={drive['nuscenes']}", f"out_dir={root / 'probe'}",
        "epochs=300", "points_per_frame=2000"]))
    assert result.held_out
    head = torch.nn.Linear(12, len(NUSCENES.class_names))  # MinkUNet18 x 1/8: 12 channels
    head.load_state_dict(torch.load(result.head_path)["head"])
    return backbone, head, checkpoint, result.head_path


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory: pytest.TempPathFactory):
    _, _, checkpoint, head_path = trained
    out = tmp_path_factory.mktemp("export") / "pkg"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export", "--checkpoint", str(checkpoint), "--head", str(head_path),
                     "--format", "onnx", "--out", str(out), "--model-id", "seal-test",
                     "--points", "500,20000,90000", "--voxels", "400,18000,80000"])
    assert code == 0
    return out, printed.getvalue()


@pytest.mark.slow
def test_package_loads_with_the_heads_classes(exported) -> None:
    out, _ = exported
    package = ModelPackage.load(out)
    assert package.model_id == "seal-test"
    assert package.class_names == NUSCENES.class_names
    assert [list(c) for c in package.palette] == NUSCENES.palette.tolist()
    assert package.palette[7] == (0, 0, 230)  # nuScenes' official pedestrian blue
    assert package.grid == VoxelGrid.cartesian(0.1)
    assert package.input.fields == ("x", "y", "z", "intensity")
    assert package.input.features == ("intensity",)
    assert package.profile.points == (500, 20000, 90000)
    assert package.profile.voxels == (400, 18000, 80000)
    assert package.network["backbone"] == "minkunet18"
    assert package.network["num_classes"] == 17 and package.network["in_channels"] == 1
    assert package.onnx == (out / "model.onnx").resolve() and package.onnx.is_file()
    assert package.checkpoint == (out / "model.pt").resolve() and package.checkpoint.is_file()


@pytest.mark.slow
def test_prints_what_it_wrote(exported) -> None:
    out, printed = exported
    assert f"wrote  {out / 'model.onnx'}" in printed
    assert f"wrote  {out / 'model.yaml'}" in printed
    assert f"wrote  {out / 'model.pt'}" in printed
    error = float(re.search(r"max rel error (\S+) on a", printed).group(1))
    assert error <= 1e-4
    assert "17 classes" in printed and "WARNING" not in printed


@pytest.mark.slow
@pytest.mark.parametrize(("points", "seed"), [(7_000, 5), (40_000, 6)])
def test_onnx_equals_spconv_backbone_plus_probe_head(trained, exported, points, seed) -> None:
    backbone, head, _, _ = trained
    package = ModelPackage.load(exported[0])
    xyz, feats = scan_tensors(points, seed)
    features, inverse, maps = scan_inputs(xyz, feats, package.grid, 3)
    got = OnnxRuntimeEngine(package.onnx).infer(features, inverse, maps)
    weights = GatherEngine(package.checkpoint).infer(features, inverse, maps)  # model.pt
    with torch.no_grad():
        batch = voxelize(xyz, feats, torch.tensor([0, points]), package.grid)
        ref = head(backbone(batch))  # what `seal_train probe` evaluates
    assert got.shape == (points, 17)
    assert float((got - ref).abs().max() / ref.abs().max()) <= 1e-4
    assert float((weights - ref).abs().max() / ref.abs().max()) <= 1e-4
    assert (got.argmax(1) == ref.argmax(1)).float().mean() > 0.999


@pytest.mark.slow
def test_replay_of_the_val_bag_scores_what_evaluate_scores(drive, trained, exported,
                                                           tmp_path) -> None:
    """The two halves agree: the probe head, exported and replayed through onnxruntime over the
    val scene's bag, gives the confusion matrix that ``evaluate`` computes offline (spconv)."""
    _, _, _, head_path = trained
    offline, _ = evaluate(head_path, None, "val", tmp_path / "eval")
    vehicle = replay(drive["rosbag"] / "scene-0001", model=exported[0], engine="onnxruntime",
                     overrides={"threads": 2}, progress=False)
    assert vehicle.processed == 2 and vehicle.evaluated_points == offline.matrix.sum() > 10_000
    offline_iou = dict(zip(offline.class_names, offline.iou, strict=True))
    for name, iou in vehicle.iou.items():  # classes absent from the scene are NaN offline
        assert iou == pytest.approx(offline_iou[name], abs=1e-3, nan_ok=True), name
    assert vehicle.miou == pytest.approx(offline.miou, abs=1e-3)
    # the head predicts several classes (not one everywhere), so agreeing means something
    assert (offline.matrix[1:, 1:].sum(0) > 0).sum() >= 5 and offline.miou > 0.05


@pytest.mark.slow
def test_existing_out_dir_needs_overwrite(trained, exported, capsys) -> None:
    _, _, checkpoint, head_path = trained
    exported, _ = exported
    code = main(["export", "--checkpoint", str(checkpoint), "--head", str(head_path),
                 "--out", str(exported)])
    assert code == 1
    err = capsys.readouterr().err
    assert str(exported) in err and "--overwrite" in err


def test_missing_checkpoint(tmp_path: Path, capsys) -> None:
    code = main(["export", "--checkpoint", str(tmp_path / "nope.pt"), "--classes", "nuscenes",
                 "--out", str(tmp_path / "out")])
    assert code == 1
    assert f"{tmp_path / 'nope.pt'}: no such checkpoint file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_optimize_needs_dynamo(trained, tmp_path: Path, capsys) -> None:
    _, _, checkpoint, head_path = trained
    code = main(["export", "--checkpoint", str(checkpoint), "--head", str(head_path),
                 "--optimize", "--out", str(tmp_path / "out")])
    assert code == 1
    assert "optimize needs the dynamo exporter, got 'torchscript'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_head_class_count_must_match_rows(trained, tmp_path: Path) -> None:
    _, head, checkpoint, _ = trained
    bad = tmp_path / "bad.pt"
    torch.save({"head": head.state_dict(), "class_names": ["a", "b", "c"]}, bad)
    with pytest.raises(ExportError, match=r"bad.pt: 3 class_names but the head has 17 output"):
        load_export_source(checkpoint, head=bad)


def test_head_width_must_match_backbone(trained, tmp_path: Path) -> None:
    _, _, checkpoint, _ = trained
    bad = tmp_path / "wide.pt"
    torch.save({"head": torch.nn.Linear(96, 3).state_dict(), "class_names": ["a", "b", "c"]},
               bad)
    with pytest.raises(ExportError, match="head takes 96 features but the backbone"):
        load_export_source(checkpoint, head=bad)


def test_no_head_needs_a_head_or_classes(trained) -> None:
    _, _, checkpoint, _ = trained
    with pytest.raises(ExportError, match="a segmentation head is needed"):
        load_export_source(checkpoint)


def test_random_head_for_a_label_map(trained, caplog) -> None:
    _, _, checkpoint, _ = trained
    source = load_export_source(checkpoint, classes="semantic-kitti", seed=3)
    assert source.random_head
    assert source.class_names == LabelMap.builtin("semantic-kitti").class_names
    assert source.state["head.weight"].shape == (20, 12)
    again = load_export_source(checkpoint, classes="semantic-kitti", seed=3)
    assert torch.equal(source.state["head.weight"], again.state["head.weight"])  # seeded
    assert "RANDOM-WEIGHT HEAD" in caplog.text
    assert source.grid == VoxelGrid.cartesian(0.1) and source.features == ("intensity",)
    assert "point_head.weight" not in source.state


def test_raw_state_dict_needs_grid_and_features(trained, tmp_path: Path) -> None:
    backbone, _, _, _ = trained
    raw = tmp_path / "raw.pt"
    torch.save(backbone.state_dict(), raw)
    with pytest.raises(ExportError, match="--grid"):
        load_export_source(raw, classes="nuscenes")
    with pytest.raises(ExportError, match="--features"):
        load_export_source(raw, classes="nuscenes", grid=VoxelGrid.cylindrical())
    with pytest.raises(ExportError, match="takes 1 input channels"):
        load_export_source(raw, classes="nuscenes", grid=VoxelGrid.cylindrical(),
                           features=("intensity", "ring"))
    source = load_export_source(raw, classes="nuscenes", grid=VoxelGrid.cylindrical(),
                                features=("intensity",))
    assert source.network["backbone"] == "minkunet" and source.network["in_channels"] == 1


def test_a_bad_grid_in_the_checkpoint_config_names_the_key(trained, tmp_path: Path) -> None:
    backbone, _, _, _ = trained
    bad = tmp_path / "polar.pt"
    config = to_dict(PretrainConfig(model=MODEL))
    config["model"]["grid"] = "polar"
    torch.save({"model": {f"backbone.{k}": v for k, v in backbone.state_dict().items()},
                "config": config}, bad)
    with pytest.raises(ExportError, match=r"polar.pt: config.model.grid: expected one of "
                                          r"cylindrical, cartesian, got 'polar'"):
        load_export_source(bad, classes="nuscenes")


def test_overwrite_removes_the_old_package_yaml_first(tmp_path: Path) -> None:
    """Until the new model.yaml is written (last), the folder holds no package: a failed or
    killed overwrite cannot pair the old YAML with new weights."""
    out = tmp_path / "pkg"
    out.mkdir()
    (out / PACKAGE_NAME).write_text("old")
    (out / "model.fp16.abc.engine").write_text("stale")
    (out / "notes.txt").write_text("kept")
    with pytest.raises(ExportError, match="pass --overwrite"):
        _prepare_dir(out, overwrite=False)
    assert (out / PACKAGE_NAME).is_file()
    _prepare_dir(out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_head_and_classes_are_exclusive(trained) -> None:
    _, _, checkpoint, head_path = trained
    with pytest.raises(ExportError, match="not both"):
        load_export_source(checkpoint, head=head_path, classes="nuscenes")


def test_help() -> None:
    result = subprocess.run([sys.executable, "-m", "seal_train", "export", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for flag in ("--checkpoint", "--head", "--format", "--points", "--voxels", "--precision",
                 "--overwrite", "--classes", "--model-id", "--exporter"):
        assert flag in result.stdout
