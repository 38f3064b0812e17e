"""Robustness scores as Robo3D defines them: mIoU per corruption and severity, CE / mCE against a
baseline model, RR / mRR against the model's own clean mIoU.

- ``CE_i = sum_l (1 - mIoU_{i,l}) / sum_l (1 - mIoU^base_{i,l})`` over the severities ``l``;
  ``mCE`` is its mean over the corruptions (the baseline has mCE 100 %; lower is better).
- ``RR_i = sum_l mIoU_{i,l} / (L * mIoU_clean)``; ``mRR`` its mean (higher is better).

Source: ldkong1205/Robo3D ``docs/document/METRIC.md`` and its README's tables (method.md 2.3).
``robustness.yaml`` holds the figures so ``benchmark`` can collect them and a later run can use
one as the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seal_ros.atomic_files import write_text
from seal_ros.config_files import parse_yaml
from seal_ros.errors import ConfigError

__all__ = ["ROBUSTNESS_FILE", "RobustnessScores", "read_robustness"]

ROBUSTNESS_FILE = "robustness.yaml"


@dataclass(frozen=True)
class RobustnessScores:
    """mIoU (0..1) of one model on a split, clean and under each corruption and severity.

    Attributes:
        title: what was scored (the model file and split).
        clean: mIoU on the clean split.
        corrupted: corruption -> severity -> mIoU, in the order they were run.
    """

    title: str
    clean: float
    corrupted: dict[str, dict[str, float]] = field(default_factory=dict)

    def miou(self, corruption: str) -> float:
        """Mean mIoU over the severities of one corruption (the tables' per-corruption cell)."""
        return float(np.mean(list(self.corrupted[corruption].values())))

    def rr(self, corruption: str) -> float:
        by_severity = self.corrupted[corruption]
        return float(sum(by_severity.values()) / (len(by_severity) * self.clean))

    @property
    def mrr(self) -> float:
        return float(np.mean([self.rr(c) for c in self.corrupted]))

    def ce(self, corruption: str, baseline: RobustnessScores) -> float:
        ours = self.corrupted[corruption]
        theirs = baseline.corrupted.get(corruption, {})
        missing = [s for s in ours if s not in theirs]
        if missing:
            raise ConfigError(f"baseline {baseline.title!r} has no {corruption} at "
                              f"{', '.join(missing)}: score it under the same corruptions and "
                              f"severities")
        return float(sum(1.0 - ours[s] for s in ours) / sum(1.0 - theirs[s] for s in ours))

    def mce(self, baseline: RobustnessScores) -> float:
        return float(np.mean([self.ce(c, baseline) for c in self.corrupted]))

    def markdown(self, baseline: RobustnessScores | None = None) -> str:
        """Per corruption: mIoU at each severity, their mean, CE (with a baseline) and RR, all in
        %; then the clean mIoU, mCE and mRR."""
        severities = list(dict.fromkeys(s for by in self.corrupted.values() for s in by))
        head = ["corruption", *severities, "mean mIoU", *(["CE"] if baseline else []), "RR"]
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        for name, by_severity in self.corrupted.items():
            cells = [f"{100 * by_severity[s]:.2f}" if s in by_severity else "" for s in severities]
            cells.append(f"{100 * self.miou(name):.2f}")
            if baseline is not None:
                cells.append(f"{100 * self.ce(name, baseline):.2f}")
            cells.append(f"{100 * self.rr(name):.2f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(f"clean mIoU {100 * self.clean:.2f} %, "
                     + (f"mCE {100 * self.mce(baseline):.2f} % (baseline {baseline.title}), "
                        if baseline is not None else "mCE n/a (no baseline given), ")
                     + f"mRR {100 * self.mrr:.2f} %")
        return "\n".join(lines)

    def record(self, baseline: RobustnessScores | None = None) -> dict[str, Any]:
        record: dict[str, Any] = {"title": self.title, "clean": self.clean,
                                  "corrupted": self.corrupted, "mrr": self.mrr}
        if baseline is not None:
            record |= {"mce": self.mce(baseline), "baseline": baseline.title}
        return record

    def write(self, out_dir: Path, baseline: RobustnessScores | None = None) -> list[Path]:
        """``robustness.yaml`` and ``robustness.md`` in ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        data = write_text(out / ROBUSTNESS_FILE,
                          yaml.safe_dump(self.record(baseline), sort_keys=False))
        table = write_text(out / "robustness.md",
                           f"# Robustness of {self.title}\n\n{self.markdown(baseline)}\n")
        return [data, table]


def read_robustness(path: Path) -> RobustnessScores:
    """Scores from a ``robustness.yaml`` (or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / ROBUSTNESS_FILE
    try:
        record = parse_yaml(path.read_text())
        corrupted = {str(c): {str(s): float(v) for s, v in by.items()}
                     for c, by in record["corrupted"].items()}
        return RobustnessScores(str(record["title"]), float(record["clean"]), corrupted)
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(f"{path}: not a robustness file written by `evaluate --corruption` "
                          f"({type(err).__name__}: {err})") from err
