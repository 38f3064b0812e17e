"""The embedded default data: the synthetic drive and its superpixels, made once in a cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from seal_train.sources.splits import SPLIT_DIR
from seal_train.superpixels.generate import generate
from seal_train.superpixels.sources import make_source

log = logging.getLogger(__name__)
COMPLETE = "COMPLETE"


def cache_root(cache_dir: Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("SEAL_CACHE", Path.home() / ".cache" / "seal"))


def synthetic_drive(scenes: int, frames: int, seed: int, cache_dir: Path | None = None) -> Path:
    """Path of the synthetic drive's nuScenes output in the cache, generating it if needed."""
    from seal_train.synth.formats import write_drive

    root = cache_root(cache_dir) / f"synthetic-s{seed}-{scenes}x{frames}"
    # a drive cached before the writer made split lists is made again (same frames, same ids)
    if not (root / COMPLETE).is_file() or not (root / "nuscenes" / SPLIT_DIR).is_dir():
        log.info("generating the synthetic drive (%d scenes x %d frames, seed %d) in %s",
                 scenes, frames, seed, root)
        write_drive(root, scenes=scenes, frames=frames, seed=seed, formats=("nuscenes",),
                    overwrite=True)
        (root / COMPLETE).write_text("nuscenes\n")
    return root / "nuscenes"


def ensure_superpixels(frames, store_dir: Path, source_name: str) -> Path:
    """Make (or finish) the superpixel store for ``frames``; resumable, all cores."""
    source = make_source(source_name, setting="data.superpixel_source")
    generate(frames, source, store_dir, workers=os.cpu_count() or 1)
    return store_dir
