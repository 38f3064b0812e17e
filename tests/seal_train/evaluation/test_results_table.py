"""``benchmark`` collects run folders (as probe / finetune / evaluate write them) into the
papers' table: rows per pretraining, LP and ratio columns, mCE against the random-init run."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import yaml

from seal_ros.core.metrics import ConfusionMatrix
from seal_ros.errors import ConfigError
from seal_train.__main__ import main
from seal_train.evaluation import write_report
from seal_train.evaluation.results_table import build_table, collect_runs
from seal_train.evaluation.robustness import RobustnessScores

CLASSES = ("ignore", "car", "road")


def _run(folder: Path, kind: str, checkpoint: str | None, labels: str, right: int,
         robustness: dict[str, dict[str, float]] | None = None) -> Path:
    """A run folder with ``right`` of 10 road points predicted right (IoU known)."""
    folder.mkdir(parents=True)
    config = {"checkpoint": checkpoint, "data": {"path": "/data/drive"}}
    if kind == "finetune":
        config["labels"] = labels
        (folder / "labelled_frames.txt").write_text("# rule\nf0\n")
    else:
        (folder / "probe.pt").write_bytes(b"")
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    matrix = ConfusionMatrix(3, ignore_id=0)
    truth = np.array([1] * 10 + [2] * 10)
    prediction = np.array([1] * 10 + [2] * right + [1] * (10 - right))
    matrix.update(prediction=prediction, truth=truth)
    write_report(matrix.scores(CLASSES), folder, "unit")
    if robustness is not None:
        scores = matrix.scores(CLASSES)
        RobustnessScores(str(folder), scores.miou, robustness).write(folder / "robustness-val")
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    slic = str(root / "pretrain-slic" / "last.pt")
    _run(root / "probe-random", "probe", None, "", 2)
    _run(root / "probe-slic", "probe", slic, "", 6)
    _run(root / "ft-random-1", "finetune", None, "1%", 3)
    _run(root / "ft-slic-1", "finetune", slic, "1%", 8)
    _run(root / "ft-random-100", "finetune", None, "100%", 9,
         {"fog": {"light": 0.5, "heavy": 0.3}})
    _run(root / "ft-slic-100", "finetune", slic, "100%", 10,
         {"fog": {"light": 0.6, "heavy": 0.5}})
    (root / "pretrain-slic").mkdir()
    (root / "pretrain-slic" / "config.yaml").write_text("epochs: 2\n")  # not a scored run
    return root


def test_rows_columns_and_robustness(runs: Path) -> None:
    found = collect_runs([runs])
    assert len(found) == 6
    table = build_table(found)
    assert table.columns == ["LP", "1%", "100%"]
    assert list(table.rows) == ["random init", "pretrain-slic"]
    # road IoU = right / 10 (no false positive), car IoU = 10 / (10 + 10 - right)
    assert table.rows["pretrain-slic"]["1%"].miou == pytest.approx((8 / 10 + 10 / 12) / 2)
    run, mce = table.robust["pretrain-slic"]
    assert run.column == "100%"
    assert mce == pytest.approx((0.4 + 0.5) / (0.5 + 0.7))
    assert table.robust["random init"][1] == pytest.approx(1.0)


def test_command_writes_markdown_with_links_and_a_chart(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "table"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["benchmark", str(runs), "--out", str(out)]) == 0
    text = (out / "results.md").read_text()
    assert "| pretraining | LP | 1% | 100% | mCE | mRR |" in text
    slic_row = next(line for line in text.splitlines() if line.startswith("| pretrain-slic"))
    assert "[81.67](../runs/ft-slic-1) ([cfg](../runs/ft-slic-1/config.yaml))" in slic_row
    assert "[75.00](../runs/ft-slic-100/robustness-val)" in slic_row  # mCE 75 %
    assert (out / "results.png").stat().st_size > 1000
    assert "6 runs collected" in printed.getvalue()


def test_nothing_to_collect_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no probe or finetune run found under"):
        collect_runs([tmp_path])
    with pytest.raises(ConfigError, match=r"missing: no such run folder"):
        collect_runs([tmp_path / "missing"])
