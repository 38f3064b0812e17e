"""Evaluation reports: a markdown table, the same scores as YAML (what ``benchmark`` reads) and
two PNGs (IoU per class, confusion matrix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seal_ros.atomic_files import write_text
from seal_ros.config_files import parse_yaml
from seal_ros.core.metrics import SegmentationScores, scores_from_matrix
from seal_ros.errors import ConfigError

SCORES_FILE = "scores.yaml"


def scores_record(scores: SegmentationScores, title: str) -> dict[str, Any]:
    """Plain values of ``scores`` (rebuilt exactly by :func:`read_scores` from the matrix)."""
    names = [str(n) for n in scores.class_names]
    return {"title": title, "miou": float(scores.miou), "accuracy": float(scores.accuracy),
            "iou": {n: (None if np.isnan(v) else float(v))
                    for n, v in zip(names, scores.iou, strict=True)},
            "ignore_id": scores.ignore_id, "all_class_names": _all_names(scores),
            "matrix": scores.matrix.tolist()}


def _all_names(scores: SegmentationScores) -> list[str]:
    names = list(scores.class_names)
    if scores.ignore_id is not None:
        names.insert(scores.ignore_id, "ignore")
    return names


def read_scores(path: Path) -> tuple[SegmentationScores, str]:
    """The scores and title of a ``scores.yaml`` that :func:`write_report` wrote."""
    try:
        record = parse_yaml(Path(path).read_text())
        matrix = np.asarray(record["matrix"], dtype=np.int64)
        names = tuple(str(n) for n in record["all_class_names"])
        scores = scores_from_matrix(matrix, ignore_id=record["ignore_id"], class_names=names)
        return scores, str(record.get("title", ""))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{path}: not a scores file written by evaluate / probe / finetune "
                          f"({type(err).__name__}: {err})") from err


def write_report(scores: SegmentationScores, out_dir: str | Path, title: str = "Evaluation"
                 ) -> list[Path]:
    """Write ``scores.md``, ``scores.yaml``, ``iou_per_class.png`` and ``confusion_matrix.png``
    into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = write_text(out / "scores.md", f"# {title}\n\n{scores.markdown()}\n")
    record = write_text(out / SCORES_FILE,
                        yaml.safe_dump(scores_record(scores, title), sort_keys=False))

    iou = np.nan_to_num(scores.iou * 100.0, nan=0.0)
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(iou)), 4))
    ax.bar(range(len(iou)), iou, color="tab:blue")
    ax.axhline(scores.miou * 100.0, color="tab:red", linestyle="--",
               label=f"mIoU {scores.miou * 100:.1f}")
    ax.set_xticks(range(len(iou)), scores.class_names, rotation=60, ha="right")
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    bars = out / "iou_per_class.png"
    fig.savefig(bars, dpi=100)
    plt.close(fig)

    matrix = scores.scored_matrix().astype(np.float64)  # without the ignored class
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(share)), max(5, 0.4 * len(share))))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(share)), scores.class_names, rotation=60, ha="right")
    ax.set_yticks(range(len(share)), scores.class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth (row-normalised)")
    fig.tight_layout()
    confusion = out / "confusion_matrix.png"
    fig.savefig(confusion, dpi=100)
    plt.close(fig)
    return [md, record, bars, confusion]
