"""Compute superpixels for every camera image of a dataset: resumable, parallel, sharded.

Frames are read in the main process; images go to a process pool that segments them and writes the
PNGs itself (atomic writes), so killing the run loses at most the images in flight. Images already
in the store are skipped. ``shard=(i, n)`` takes frames i, i+n, i+2n, ... so n machines or GPUs
split one dataset.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from seal_ros.errors import ConfigError
from seal_train.sources.detect import FrameSource
from seal_train.sources.frame import CameraView
from seal_train.superpixels.sources import SuperpixelSource
from seal_train.superpixels.store import NO_SEGMENT, Manifest, SuperpixelStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuperpixelReport:
    """What a run did."""

    out: Path
    frames: int
    images: int  # camera images seen in this shard
    written: int  # segmented and written now
    already_done: int  # found in the store and skipped
    mean_segments: float  # over the images written now
    seconds: float

    def summary(self) -> str:
        segments = (f"{self.mean_segments:.1f} segments per written image on average; "
                    if self.written else "")  # a reused store has no new images to average
        return (f"superpixels in {self.out}: {self.images} images from {self.frames} frames; "
                f"{self.written} written, {self.already_done} already done; "
                f"{segments}{self.seconds:.1f} s")


def _segment_and_write(source: SuperpixelSource, root: Path, camera: CameraView) -> int:
    segments = source.segment(camera)
    SuperpixelStore(root).write(camera.image_id, segments)
    valid = segments[segments != NO_SEGMENT]
    return int(valid.max()) + 1 if valid.size else 0


def generate(frames: FrameSource, source: SuperpixelSource, out: Path, workers: int = 1,
             shard: tuple[int, int] = (0, 1), overwrite: bool = False) -> SuperpixelReport:
    """Segment every camera image of ``frames`` (this shard) into the store at ``out``."""
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: expected 0 <= index < count")
    store = SuperpixelStore(out)
    store.open_for(Manifest(source.name, source.parameters()), overwrite=overwrite)
    start = time.perf_counter()
    frame_indices = range(index, len(frames), count)
    images = written = already = 0
    segments_total = 0
    pending: deque[Future[int]] = deque()
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context) if workers > 1 else None

    def collect(block: bool) -> None:
        nonlocal written, segments_total
        while pending and (block or pending[0].done()):
            segments_total += pending.popleft().result()
            written += 1

    try:
        for frame_index in tqdm(frame_indices, desc=f"superpixels ({source.name})", unit="frame"):
            frame = frames[frame_index]
            for camera in frame.cameras:
                images += 1
                if store.has(camera.image_id) and not overwrite:
                    already += 1
                    continue
                if pool is None:
                    segments_total += _segment_and_write(source, store.root, camera)
                    written += 1
                    continue
                pending.append(pool.submit(_segment_and_write, source, store.root, camera))
                if len(pending) >= 4 * workers:  # bound memory: wait for the oldest
                    collect(block=False)
                    while len(pending) >= 4 * workers:
                        segments_total += pending.popleft().result()
                        written += 1
        collect(block=True)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    report = SuperpixelReport(store.root, len(frame_indices), images, written, already,
                              segments_total / max(written, 1), time.perf_counter() - start)
    log.info(report.summary())
    return report


def segment_counts(store: SuperpixelStore, image_ids: list[str]) -> np.ndarray:
    """Number of segments in each stored image (for summaries and tests)."""
    counts = []
    for image_id in image_ids:
        segments = store.read(image_id)
        valid = segments[segments != NO_SEGMENT]
        counts.append(int(valid.max()) + 1 if valid.size else 0)
    return np.asarray(counts, dtype=np.int64)
