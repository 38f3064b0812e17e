"""mCE and mRR as Robo3D defines them, checked against hand-computed values."""

from __future__ import annotations

import pytest

from seal_ros.errors import ConfigError
from seal_train.evaluation.robustness import RobustnessScores, read_robustness

MODEL = RobustnessScores("model", 0.60, {"fog": {"light": 0.50, "moderate": 0.40, "heavy": 0.30},
                                         "snow": {"light": 0.55, "moderate": 0.45,
                                                  "heavy": 0.20}})
BASE = RobustnessScores("base", 0.50, {"fog": {"light": 0.40, "moderate": 0.30, "heavy": 0.20},
                                       "snow": {"light": 0.50, "moderate": 0.40, "heavy": 0.30}})


def test_ce_and_rr_follow_robo3d() -> None:
    # CE_fog = (0.5 + 0.6 + 0.7) / (0.6 + 0.7 + 0.8); RR_fog = 1.2 / (3 * 0.6)
    assert MODEL.ce("fog", BASE) == pytest.approx(1.8 / 2.1)
    assert MODEL.ce("snow", BASE) == pytest.approx(1.8 / 1.8)
    assert MODEL.mce(BASE) == pytest.approx((1.8 / 2.1 + 1.0) / 2)
    assert MODEL.rr("fog") == pytest.approx(1.2 / 1.8)
    assert MODEL.mrr == pytest.approx((1.2 / 1.8 + 1.2 / 1.8) / 2)
    assert BASE.mce(BASE) == pytest.approx(1.0)  # the baseline's own mCE is 100 %
    assert MODEL.miou("snow") == pytest.approx(0.4)


def test_written_file_reads_back_and_names_the_baseline(tmp_path) -> None:
    written = MODEL.write(tmp_path, BASE)
    assert [p.name for p in written] == ["robustness.yaml", "robustness.md"]
    again = read_robustness(tmp_path)
    assert again == MODEL
    text = written[1].read_text()
    assert "| fog | 50.00 | 40.00 | 30.00 | 40.00 | 85.71 | 66.67 |" in text
    assert "mCE 92.86 % (baseline base)" in text and "mRR 66.67 %" in text
    assert "mCE n/a (no baseline given)" in MODEL.markdown()


def test_a_baseline_without_the_same_cells_is_refused(tmp_path) -> None:
    partial = RobustnessScores("partial", 0.5, {"fog": {"light": 0.4}})
    with pytest.raises(ConfigError, match=r"baseline 'partial' has no fog at moderate, heavy"):
        MODEL.mce(partial)
    (tmp_path / "robustness.yaml").write_text("clean: 0.5\n")
    with pytest.raises(ConfigError, match=r"robustness.yaml: not a robustness file"):
        read_robustness(tmp_path)
