"""Robustness runs: a model scored on a split clean and under each nuScenes-C corruption and
severity (Robo3D's protocol), with pictures of what each corruption did to the first scan.

Corruptions are applied on the fly, deterministically per (frame, corruption, severity, seed)
(:func:`seal_train.robustness.corrupt_frame`), or read from a released nuScenes-C copy
(``corruption_data``). The scores are :class:`~seal_train.evaluation.robustness.RobustnessScores`.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from seal_train.engine.scoring import Corrupt, ScoredModel
from seal_train.evaluation.robustness import RobustnessScores
from seal_train.sources.frame import Frame

if TYPE_CHECKING:
    from seal_train.robustness import CorruptedScan

__all__ = ["score_robustness"]

log = logging.getLogger(__name__)


def _corrupter(corruption: str, severity: str, seed: int, corruption_data: Path | None
               ) -> Corrupt:
    if corruption_data is None:
        from seal_train.robustness import corrupt_frame

        return partial(corrupt_frame, corruption=corruption, severity=severity, seed=seed)
    from seal_train.robustness.nuscenes_c import load_nuscenes_c

    def load(frame: Frame) -> CorruptedScan:
        return load_nuscenes_c(corruption_data, corruption, severity, frame)

    return load


def score_robustness(model: ScoredModel, split: str, corruptions: tuple[str, ...],
                     severities: tuple[str, ...], out_dir: Path, seed: int = 0,
                     baseline: RobustnessScores | None = None,
                     corruption_data: Path | None = None, pictures: bool = True
                     ) -> tuple[RobustnessScores, list[Path]]:
    """Score ``model`` on ``split`` clean and under every (corruption, severity); write
    ``robustness.yaml``, ``robustness.md`` and (``pictures``) one PNG per corruption into
    ``out_dir``. Returns the scores and the files written."""
    frames = model.frames(split)
    clean = model.score(frames, desc="clean").miou
    corrupted: dict[str, dict[str, float]] = {}
    for corruption in corruptions:
        for severity in severities:
            corrupt = _corrupter(corruption, severity, seed, corruption_data)
            miou = model.score(frames, corrupt, desc=f"{corruption} {severity}").miou
            corrupted.setdefault(str(corruption), {})[str(severity)] = miou
            log.info("%s %s: mIoU %.2f %% (clean %.2f %%)", corruption, severity, 100 * miou,
                     100 * clean)
    scores = RobustnessScores(f"{model.source} on {split}", clean, corrupted)
    written = scores.write(out_dir, baseline)
    if pictures and corruption_data is None and len(frames):
        from seal_train.robustness import parse_corruption
        from seal_train.robustness.pictures import write_corruption_pictures

        for severity in severities:
            written += write_corruption_pictures(
                frames[0], Path(out_dir) / "pictures", severity, seed,
                corruptions=tuple(parse_corruption(c) for c in corruptions), overwrite=True)
    return scores, written
