"""Evaluation reports: a markdown table and two PNGs (IoU per class, confusion matrix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seal_ros.core.metrics import SegmentationScores


def write_report(scores: SegmentationScores, out_dir: str | Path, title: str = "Evaluation"
                 ) -> list[Path]:
    """Write ``scores.md``, ``iou_per_class.png`` and ``confusion_matrix.png`` into ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "scores.md"
    md.write_text(f"# {title}\n\n{scores.markdown()}\n")

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
    return [md, bars, confusion]
