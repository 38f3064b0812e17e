"""One results table from many run folders, in the papers' layout: one row per pretraining
(random init included), columns LP, the label ratios of fine-tuning, mCE and mRR.

A run folder is recognised by what its command wrote: ``probe`` (``probe.pt``), ``finetune``
(``labelled_frames.txt``), both with ``config.yaml`` and ``scores.yaml``; a robustness folder
(``robustness.yaml``) inside one of them adds that run's mCE / mRR. mCE is taken against the
random-init run of the same data, kind and ratio when one was collected (Robo3D's baseline is a
random-init model), else the value stored in the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from seal_ros.atomic_files import write_text
from seal_ros.config_files import parse_yaml
from seal_ros.errors import ConfigError
from seal_train.evaluation.report import SCORES_FILE, read_scores
from seal_train.evaluation.robustness import ROBUSTNESS_FILE, RobustnessScores, read_robustness

__all__ = ["Run", "collect_runs", "results_markdown", "write_results"]

RATIO_ORDER = ("1%", "5%", "10%", "25%", "100%")


@dataclass(frozen=True)
class Run:
    """One scored run: which pretraining, which protocol cell, its mIoU and robustness."""

    path: Path  # the run folder
    kind: str  # "probe" | "finetune"
    column: str  # "LP" or the label ratio / list file name
    pretraining: str | None  # the pretraining checkpoint; None = random init
    data: str  # the dataset path ("" = the built-in drive)
    miou: float  # 0..1
    robustness: RobustnessScores | None = None
    robustness_path: Path | None = None


def _read_run(folder: Path) -> Run | None:
    if not (folder / SCORES_FILE).is_file() or not (folder / "config.yaml").is_file():
        return None
    if (folder / "probe.pt").is_file():
        kind = "probe"
    elif (folder / "labelled_frames.txt").is_file():
        kind = "finetune"
    else:
        return None
    try:
        config = parse_yaml((folder / "config.yaml").read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{folder / 'config.yaml'}: not YAML ({err})") from err
    scores, _ = read_scores(folder / SCORES_FILE)
    column = "LP" if kind == "probe" else str(config.get("labels", "?"))
    if kind == "finetune" and column not in RATIO_ORDER:
        column = Path(column).name  # a list file
    robustness_files = sorted(folder.glob(f"*/{ROBUSTNESS_FILE}"))
    robustness = read_robustness(robustness_files[-1]) if robustness_files else None
    checkpoint = config.get("checkpoint")
    data = (config.get("data") or {}).get("path") or ""
    return Run(folder, kind, column, str(checkpoint) if checkpoint else None, str(data),
               scores.miou, robustness, robustness_files[-1] if robustness_files else None)


def collect_runs(roots: list[Path]) -> list[Run]:
    """Every probe / finetune run at or below ``roots`` (sorted by path)."""
    runs = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise ConfigError(f"{root}: no such run folder")
        folders = [root, *sorted(p.parent for p in root.rglob("config.yaml") if p.parent != root)]
        runs += [run for run in map(_read_run, folders) if run is not None]
    unique = {run.path.resolve(): run for run in runs}
    if not unique:
        raise ConfigError(f"no probe or finetune run found under {', '.join(map(str, roots))} "
                          f"(a run folder holds config.yaml and scores.yaml)")
    return sorted(unique.values(), key=lambda run: str(run.path))


def _unique_tails(paths: list[Path]) -> dict[Path, str]:
    """Each path's shortest tail of folder names that no other path shares."""
    for depth in range(1, 8):
        tails = {p: "/".join(p.parts[-depth:]) for p in paths}
        if len(set(tails.values())) == len(tails):
            return tails
    return {p: str(p) for p in paths}


def _row_names(runs: list[Run]) -> dict[tuple[str | None, str], str]:
    """(pretraining, data) -> row label: random init, or the shortest unique tail of the
    pretraining run's folder; the data's tail is added when several datasets are collected."""
    keys = list(dict.fromkeys((run.pretraining, run.data) for run in runs))
    folders = _unique_tails(sorted({Path(p).parent for p, _ in keys if p is not None}))
    datasets = _unique_tails(sorted({Path(d) for _, d in keys}))
    several = len(datasets) > 1

    def name(pretraining: str | None, data: str) -> str:
        row = "random init" if pretraining is None else folders[Path(pretraining).parent]
        return row + (f" · {datasets[Path(data)] or 'drive'}" if several else "")

    return {(p, d): name(p, d) for p, d in keys}


def _columns(runs: list[Run]) -> list[str]:
    present = {run.column for run in runs}
    ordered = [c for c in ("LP", *RATIO_ORDER) if c in present]
    return ordered + sorted(present - set(ordered))


def _link(text: str, target: Path, base: Path) -> str:
    return f"[{text}]({os.path.relpath(target, base)})"


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: dict[str, dict[str, Run]]  # row label -> column -> run
    robust: dict[str, tuple[Run, float | None]]  # row label -> (run, mCE or None)


def build_table(runs: list[Run]) -> Table:
    names = _row_names(runs)
    rows: dict[str, dict[str, Run]] = {}
    for run in runs:  # sorted by path: a later run of the same cell wins
        rows.setdefault(names[run.pretraining, run.data], {})[run.column] = run
    rows = dict(sorted(rows.items(), key=lambda item: (not item[0].startswith("random init"),
                                                       item[0])))  # the papers' first row
    robust: dict[str, tuple[Run, float | None]] = {}
    for label, cells in rows.items():
        scored = [run for run in cells.values() if run.robustness is not None]
        if not scored:
            continue
        run = max(scored, key=lambda r: (r.kind == "finetune", r.column == "100%"))
        baseline = next((r for r in runs if r.pretraining is None and r.data == run.data
                         and r.kind == run.kind and r.column == run.column
                         and r.robustness is not None), None)
        assert run.robustness is not None
        if baseline is not None and baseline.robustness is not None:
            mce: float | None = run.robustness.mce(baseline.robustness)
        else:
            stored = parse_yaml(run.robustness_path.read_text()) if run.robustness_path \
                else {}
            mce = stored.get("mce")
        robust[label] = (run, mce)
    return Table(_columns(runs), rows, robust)


def results_markdown(table: Table, base: Path) -> str:
    """The table as markdown; each cell links to its run folder and config (relative to
    ``base``, where the file is written)."""
    has_robust = bool(table.robust)
    head = ["pretraining", *table.columns, *(["mCE", "mRR"] if has_robust else [])]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for label, cells in table.rows.items():
        out = [label]
        for column in table.columns:
            run = cells.get(column)
            out.append("" if run is None else
                       f"{_link(f'{100 * run.miou:.2f}', run.path, base)} "
                       f"({_link('cfg', run.path / 'config.yaml', base)})")
        if has_robust:
            if label in table.robust:
                run, mce = table.robust[label]
                assert run.robustness is not None and run.robustness_path is not None
                where = run.robustness_path.parent
                out.append("n/a" if mce is None else _link(f"{100 * mce:.2f}", where, base))
                out.append(_link(f"{100 * run.robustness.mrr:.2f}", where, base))
            else:
                out += ["", ""]
        lines.append("| " + " | ".join(out) + " |")
    lines.append("")
    lines.append("mIoU (%) on each run's val split; LP = linear probe, ratios = fine-tuning "
                 "labels; mCE (%, lower is better) against the random-init run, mRR (%).")
    return "\n".join(lines)


def write_chart(table: Table, path: Path) -> Path:
    """Grouped bars: one group per column, one bar per pretraining."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(table.rows)
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(table.columns)), 4))
    x = np.arange(len(table.columns))
    for i, label in enumerate(labels):
        values = [100 * table.rows[label][c].miou if c in table.rows[label] else np.nan
                  for c in table.columns]
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, table.columns)
    ax.set_ylabel("mIoU (%)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_results(runs: list[Run], out_dir: Path) -> tuple[str, list[Path]]:
    """``results.md`` and ``results.png`` in ``out_dir``; returns the markdown and the files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = build_table(runs)
    text = results_markdown(table, out)
    md = write_text(out / "results.md", f"# Results\n\n{text}\n")
    return text, [md, write_chart(table, out / "results.png")]
