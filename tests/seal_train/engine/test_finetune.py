"""Fine-tuning on a tiny synthetic drive: the loss falls, checkpoints load weights-only, a rerun
resumes, ``export`` takes best.pt, ``evaluate`` gives the run's own scores; bad input fails
clearly.

One run (MinkUNet18 at width 1/4, 4 labelled frames, 4 epochs of 2 steps) is shared by the module.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from seal_ros.core.engines import OnnxRuntimeEngine
from seal_ros.core.prediction import labels_from_logits
from seal_ros.core.voxelize import voxelize
from seal_ros.errors import ConfigError
from seal_ros.labels import IGNORE_CLASS
from seal_ros.model_package import ModelPackage
from seal_train.__main__ import main
from seal_train.config import load_config
from seal_train.engine.finetune import (
    SegmentationBatch,
    SegmentationModel,
    SegmentationTask,
    evaluate_checkpoint,
    finetune,
)
from seal_train.engine.finetune_config import FinetuneConfig
from seal_train.engine.probe import backbone_from_checkpoint
from seal_train.engine.scoring import frame_inputs
from seal_train.export.package import scan_inputs
from seal_train.losses.lovasz import lovasz_softmax
from seal_train.sources.nuscenes import NuScenesSource
from seal_train.synth import SynthConfig
from seal_train.synth.formats import write_drive

EPOCHS = 4


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 4-frame scenes (train: scene-0000, val: scene-0001) of a sparse 32-beam LiDAR."""
    config = SynthConfig(image_width=64, image_height=36, lidar_azimuth_steps=512)
    return write_drive(tmp_path_factory.mktemp("drive"), scenes=2, frames=4, seed=3,
                       formats=("nuscenes",), config=config)["nuscenes"]


def _overrides(drive: Path, out: Path, *extra: str) -> list[str]:
    return [f"data.path={drive}", f"out_dir={out}", "data.workers=0", "labels=100%",
            "model.width=0.25", f"epochs={EPOCHS}", "val_every=2", "log_every=1", "device=cpu",
            *extra]


@pytest.fixture(scope="module")
def run(drive: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("finetune") / "run"
    return finetune(load_config(FinetuneConfig, overrides=_overrides(drive, out))), out


def test_trains_and_writes_a_complete_run_dir(run) -> None:
    result, out = run
    assert (result.epochs, result.steps, result.labelled) == (EPOCHS, 2 * EPOCHS, 4)
    losses = [loss for _, loss in result.losses]
    assert len(losses) == 2 * EPOCHS and np.isfinite(losses).all()
    assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2]), losses
    for name in ("config.yaml", "labelled_frames.txt", "scores.md", "scores.yaml",
                 "iou_per_class.png", "confusion_matrix.png"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    listed = (out / "labelled_frames.txt").read_text().splitlines()
    assert listed[0].startswith("# 100%: all of 4 train frames") and len(listed) == 5
    assert result.last.matrix.sum() > 0 and 0.0 <= result.best.miou <= 1.0
    assert result.best.miou >= result.last.miou


def test_checkpoints_load_weights_only_with_head_classes_and_config(run) -> None:
    result, _ = run
    for path in (result.best_path, result.last_path):
        payload = torch.load(path, map_location="cpu", weights_only=True)
        keys = payload["model"].keys()
        assert "head.weight" in keys and any(k.startswith("backbone.stem.") for k in keys)
        assert payload["class_names"][4] == "car" and len(payload["class_names"]) == 17
        assert payload["config"]["model"]["width"] == 0.25
        assert payload["config"]["point_features"] == ["intensity"]
    last = torch.load(result.last_path, map_location="cpu", weights_only=True)
    assert last["state"]["epoch"] == EPOCHS and last["optimizer"] is not None
    best = torch.load(result.best_path, map_location="cpu", weights_only=True)
    assert best["state"]["best_metric"] == pytest.approx(result.best.miou)


def test_evaluate_scores_what_the_run_scored(run, tmp_path: Path) -> None:
    result, _ = run
    last, written = evaluate_checkpoint(result.last_path, None, "val", tmp_path / "eval")
    np.testing.assert_array_equal(last.matrix, result.last.matrix)
    assert {p.name for p in written} == {"scores.md", "scores.yaml", "iou_per_class.png",
                                         "confusion_matrix.png"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["evaluate", "--checkpoint", str(result.best_path), "--out",
                     str(tmp_path / "best")]) == 0
    assert f"**{100 * result.best.miou:.2f}**" in printed.getvalue()


def test_a_rerun_resumes_from_last_pt(run, drive: Path, tmp_path: Path) -> None:
    result, out = run
    again = tmp_path / "again"
    shutil.copytree(out, again)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["finetune", *_overrides(drive, again, f"epochs={EPOCHS + 2}")])
    assert code == 0
    state = torch.load(again / "last.pt", map_location="cpu", weights_only=True)["state"]
    assert (state["epoch"], state["step"]) == (EPOCHS + 2, 2 * EPOCHS + 4)
    text = printed.getvalue()
    assert f"fine-tuned {EPOCHS + 2} epochs ({2 * EPOCHS + 4} steps)" in text
    assert "val mIoU" in text and str(again / "best.pt") in text


def test_resume_refuses_other_classes(run, drive: Path, tmp_path: Path) -> None:
    _, out = run
    other = tmp_path / "other"
    shutil.copytree(out, other)
    payload = torch.load(other / "last.pt", map_location="cpu", weights_only=True)
    payload["class_names"] = ["ignore", "road", "car"]
    torch.save(payload, other / "last.pt")
    with pytest.raises(ConfigError, match=r"out_dir=.*other: .*last.pt was trained on 3 classes "
                                          r"\['ignore', 'road', 'car'\] but the dataset's label "
                                          r"map has 17"):
        finetune(load_config(FinetuneConfig, overrides=_overrides(drive, other)))


def test_checkpoint_of_another_backbone_is_refused(run, drive: Path, tmp_path: Path) -> None:
    result, _ = run
    with pytest.raises(ConfigError, match=r"model.backbone=minkunet34, but checkpoint .*best.pt "
                                          r"holds a network with backbone=minkunet18"):
        finetune(load_config(FinetuneConfig, overrides=_overrides(
            drive, tmp_path / "x", f"checkpoint={result.best_path}", "model.backbone=minkunet34",
            "model.width=0.25")))
    with pytest.raises(ConfigError, match=r"point_features=\['intensity', 'ring'\], but "
                                          r"checkpoint .* was pretrained on \['intensity'\]"):
        finetune(load_config(FinetuneConfig, overrides=_overrides(
            drive, tmp_path / "y", f"checkpoint={result.best_path}",
            "point_features=[intensity, ring]")))
    payload = torch.load(result.best_path, map_location="cpu", weights_only=True)
    payload["config"]["model"]["backbone"] = "minkunet34"
    wrong = tmp_path / "wrong.pt"
    torch.save(payload, wrong)
    with pytest.raises(ConfigError, match=r"wrong.pt: backbone weights do not fit minkunet34"):
        backbone_from_checkpoint(wrong)


@pytest.mark.slow
def test_export_takes_best_pt_and_onnxruntime_labels_equal_torch(run, drive: Path,
                                                                  tmp_path: Path) -> None:
    result, _ = run
    package_dir = tmp_path / "pkg"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", "--checkpoint", str(result.best_path), "--out", str(package_dir),
                     "--points", "500,15000,60000", "--voxels", "400,12000,50000"]) == 0
    package = ModelPackage.load(package_dir)
    assert package.class_names[4] == "car" and package.input.features == ("intensity",)
    payload = torch.load(result.best_path, map_location="cpu", weights_only=True)
    backbone, _, features = backbone_from_checkpoint(result.best_path, payload)
    model = SegmentationModel(backbone, 17)
    model.load_state_dict(payload["model"])
    model.eval()
    frame = NuScenesSource(drive, "v1.0-mini", "val", load_images=False)[0]
    xyz, feats = (torch.from_numpy(a) for a in frame_inputs(frame, features))
    with torch.no_grad():
        ref = model(voxelize(xyz, feats, torch.tensor([0, len(xyz)]), package.grid))
    got = OnnxRuntimeEngine(package.onnx).infer(*scan_inputs(xyz, feats, package.grid, 3))
    assert float((got - ref).abs().max() / ref.abs().max()) <= 1e-4
    ours, _ = labels_from_logits(ref, ignore_id=IGNORE_CLASS)
    theirs, _ = labels_from_logits(got, ignore_id=IGNORE_CLASS)
    assert (ours == theirs).float().mean() >= 0.999


def test_a_run_resumed_past_its_end_without_scores_is_scored(run, drive: Path,
                                                            tmp_path: Path) -> None:
    result, out = run
    done = tmp_path / "done"
    shutil.copytree(out, done)
    payload = torch.load(done / "last.pt", map_location="cpu", weights_only=True)
    payload["state"]["extra"] = {}  # as if killed before a validation was recorded
    payload["state"]["best_metric"] = None
    torch.save(payload, done / "last.pt")
    again = finetune(load_config(FinetuneConfig, overrides=_overrides(drive, done)))
    assert again.steps == result.steps and again.losses == []  # nothing trained
    np.testing.assert_array_equal(again.last.matrix, result.last.matrix)


def test_loss_is_ce_plus_lovasz_over_labelled_points_and_zero_without_any() -> None:

    torch.manual_seed(0)
    logits = torch.randn(50, 5, requires_grad=True)
    labels = torch.randint(0, 5, (50,))
    batch = SegmentationBatch(sparse=None, labels=labels)  # type: ignore[arg-type]
    task = SegmentationTask(ce_weight=1.0, lovasz_weight=2.0)
    expected = (torch.nn.functional.cross_entropy(logits, labels, ignore_index=0)
                + 2.0 * lovasz_softmax(logits.softmax(1), labels, ignore_index=0))
    assert float(task.loss(logits, batch)) == pytest.approx(float(expected), rel=1e-6)
    ignored = torch.zeros(50, dtype=torch.int64)
    none = task.loss(logits, SegmentationBatch(None, ignored))  # type: ignore[arg-type]
    assert float(none) == 0.0
    none.backward()
    assert torch.isfinite(logits.grad).all()


def test_evaluate_under_corruptions_writes_robustness_and_pictures(run, tmp_path: Path) -> None:
    """``evaluate --corruption``: the clean row is the run's own score, dropping rings changes
    the scored points, the baseline gives CE, and benchmark collects the run with its mRR."""
    result, out = run
    robust = out / "robustness-val"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["evaluate", "--checkpoint", str(result.last_path), "--corruption",
                     "beam_missing,crosstalk", "--severity", "light", "heavy"]) == 0
    record = yaml.safe_load((robust / "robustness.yaml").read_text())
    assert record["clean"] == pytest.approx(result.last.miou)
    assert list(record["corrupted"]) == ["beam_missing", "crosstalk"]
    assert set(record["corrupted"]["beam_missing"]) == {"light", "heavy"}
    assert "mce" not in record and 0.0 < record["mrr"] < 2.0
    pictures = sorted(p.name for p in (robust / "pictures").glob("*.png"))
    assert len(pictures) == 4 and any("beam_missing_heavy" in name for name in pictures)
    assert "mCE n/a (no baseline given)" in printed.getvalue()

    with contextlib.redirect_stdout(io.StringIO()) as again:  # the model is its own baseline
        assert main(["evaluate", "--checkpoint", str(result.last_path), "--corruption",
                     "beam_missing", "--severity", "light", "--baseline", str(robust),
                     "--out", str(tmp_path / "self")]) == 0
    assert "| beam_missing |" in again.getvalue() and "mCE 100.00 %" in again.getvalue()

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["benchmark", str(out), "--out", str(tmp_path / "table")]) == 0
    table = (tmp_path / "table" / "results.md").read_text()
    assert f"[{100 * result.best.miou:.2f}]" in table and "| mCE | mRR |" in table


def test_a_baseline_without_the_cells_is_refused_before_scoring(run, tmp_path: Path,
                                                                capsys) -> None:
    result, _ = run
    from seal_train.evaluation.robustness import RobustnessScores

    RobustnessScores("other", 0.5, {"fog": {"light": 0.4}}).write(tmp_path / "base")
    assert main(["evaluate", "--checkpoint", str(result.last_path), "--corruption", "snow",
                 "--baseline", str(tmp_path / "base"), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "has no score for snow light, snow moderate, snow heavy" in err
    assert not (tmp_path / "x").exists()
    assert main(["evaluate", "--checkpoint", str(result.last_path), "--corruption",
                 "smog"]) == 1
    assert "smog" in capsys.readouterr().err


def test_deterministic_finetuning_runs_are_equal_bit_for_bit(drive: Path, tmp_path: Path) -> None:
    """deterministic=true holds for fine-tuning too (CE, Lovasz's sort, validation): two runs,
    one epoch each, end with the same weights and scores."""
    runs = [finetune(load_config(FinetuneConfig, overrides=_overrides(
        drive, tmp_path / name, "epochs=1", "deterministic=true"))) for name in ("one", "two")]
    assert torch.are_deterministic_algorithms_enabled() is False
    a, b = (torch.load(run.last_path, weights_only=True)["model"] for run in runs)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert np.array_equal(runs[0].last.matrix, runs[1].last.matrix)
