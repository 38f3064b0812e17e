"""A run's report: loss curves from its TensorBoard events and the scores it wrote, in one
``report.md`` with PNGs, so a run is judged at a glance without starting TensorBoard.

Reads ``<run>/tb`` (every ``loss/*`` scalar tag gets a curve, ``val/*`` tags too) and every
``scores.yaml`` under the run (probe, finetune and ``evaluate`` write them with their IoU and
confusion-matrix PNGs beside; those are linked, and drawn again only when missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seal_ros.atomic_files import write_text
from seal_ros.errors import ConfigError

__all__ = ["REPORT_FILE", "Curve", "read_scalars", "write_run_report"]

REPORT_FILE = "report.md"
CURVE_PREFIXES = ("loss/", "val/")


@dataclass(frozen=True)
class Curve:
    """One TensorBoard scalar tag: (S,) int64 steps and (S,) float64 values, in step order."""

    tag: str
    steps: np.ndarray
    values: np.ndarray


def read_scalars(tb_dir: Path) -> list[Curve]:
    """Every scalar tag of the event files in ``tb_dir`` (a resumed run's files together; a
    step written twice keeps its last value)."""
    from tensorboard.backend.event_processing.event_accumulator import (
        SCALARS,
        EventAccumulator,
    )

    events = EventAccumulator(str(tb_dir), size_guidance={SCALARS: 0})
    events.Reload()
    curves = []
    for tag in sorted(events.Tags()[SCALARS]):
        points = events.Scalars(tag)
        steps = np.array([p.step for p in points], dtype=np.int64)
        values = np.array([p.value for p in points], dtype=np.float64)
        # last write of each step wins: unique over the reversed steps
        _, last = np.unique(steps[::-1], return_index=True)
        keep = len(steps) - 1 - last
        curves.append(Curve(tag, steps[keep], values[keep]))
    return curves


def _plot_curve(curve: Curve, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(curve.steps, curve.values, color="tab:blue", linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel(curve.tag)
    ax.set_title(curve.tag)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _relative(path: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(path, start)).as_posix()


def write_run_report(run_dir: Path, out: Path | None = None, title: str | None = None,
                     overwrite: bool = False) -> Path:
    """Write ``report.md`` (default in ``<run_dir>/report``) with loss curves and scores.

    Raises:
        ConfigError: ``run_dir`` is no folder, holds neither ``tb`` events nor ``scores.yaml``,
            or the report exists and ``overwrite`` is False.
    """
    from seal_train.evaluation import SCORES_FILE, read_scores, write_report

    run_dir = Path(run_dir)
    out = run_dir / "report" if out is None else Path(out)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run folder")
    if (out / REPORT_FILE).exists() and not overwrite:
        raise ConfigError(f"{out / REPORT_FILE} exists; pass overwrite=True to replace it")
    tb = run_dir / "tb"
    curves = read_scalars(tb) if tb.is_dir() else []
    scores_files = sorted(p for p in run_dir.rglob(SCORES_FILE)
                          if out.resolve() not in p.resolve().parents)
    if not curves and not scores_files:
        raise ConfigError(f"{run_dir}: no TensorBoard events in tb/ and no {SCORES_FILE}; "
                          f"is it a pretrain / probe / finetune run folder?")
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title or f'Run {run_dir.name}'}", "", f"Run folder: `{run_dir}`", ""]
    shown = [c for c in curves if c.tag.startswith(CURVE_PREFIXES)]
    if curves:
        lines += ["## Scalars", "", "| tag | points | last step | first | last | min |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {c.tag} | {len(c.steps)} | {c.steps[-1]} | {c.values[0]:.4g} | "
                  f"{c.values[-1]:.4g} | {c.values.min():.4g} |" for c in curves if len(c.steps)]
        lines.append("")
    for curve in shown:
        png = _plot_curve(curve, out / f"{curve.tag.replace('/', '_')}.png")
        lines += [f"![{curve.tag}]({png.name})", ""]
    for path in scores_files:
        scores, scores_title = read_scores(path)
        folder = path.parent
        lines += [f"## Scores: {_relative(folder, run_dir) if folder != run_dir else 'run'}", "",
                  f"{scores_title}", "", scores.markdown(), ""]
        pictures = [folder / "iou_per_class.png", folder / "confusion_matrix.png"]
        if not all(p.is_file() for p in pictures):
            redrawn = out / ("scores" if folder == run_dir else _relative(folder, run_dir))
            written = write_report(scores, redrawn, scores_title)
            pictures = [p for p in written if p.suffix == ".png"]
        lines += [f"![{p.stem}]({_relative(p, out)})" for p in pictures] + [""]
    return write_text(out / REPORT_FILE, "\n".join(lines))
