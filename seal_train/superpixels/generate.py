"""Compute superpixels for every camera image of a dataset: resumable, parallel, sharded.

Frames are read in the main process; images go to a process pool that segments them and writes the
PNGs itself (atomic writes), so killing the run loses at most the images in flight. Images already
in the store are skipped. ``shard=(i, n)`` takes frames i, i+n, i+2n, ... so n machines or GPUs
split one dataset.

Sources that need the whole frame (the scan, or all cameras at once) define
``segment_frame(frame) -> {image_id: (H, W) uint16}`` besides ``segment``: they are called once per
frame, in this process, with the frame's cameras that the store still lacks (so a resumed frame
segments only its missing images). SAM sources batch the encoder over a frame's cameras this way;
their model lives in this one process (one model per GPU), so ``workers`` does not apply to them
and ``shard`` splits a dataset over GPUs or machines instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from seal_ros.errors import ConfigError, DatasetError
from seal_train.sources.detect import FrameSource
from seal_train.sources.frame import CameraView, Frame
from seal_train.superpixels.sources import SkipImage, SuperpixelSource, segment_image
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
    skipped: int = 0  # the source had nothing for them (SkipImage: e.g. --skip-missing)

    def summary(self) -> str:
        segments = (f"{self.mean_segments:.1f} segments per written image on average; "
                    if self.written else "")  # a reused store has no new images to average
        return (f"superpixels in {self.out}: {self.images} images from {self.frames} frames; "
                f"{self.written} written, {self.already_done} already done; "
                f"{f'{self.skipped} skipped by the source; ' if self.skipped else ''}"
                f"{segments}{self.seconds:.1f} s")


SKIPPED = -1
"""What :func:`_segment_and_write` returns for an image the source skipped."""


@runtime_checkable
class FrameSegmenter(Protocol):
    """A source that segments a frame's images together (see the module docstring)."""

    def segment_frame(self, frame: Frame) -> dict[str, np.ndarray]:
        """(H, W) uint16 dense ids for every camera of ``frame``, keyed by image id."""
        ...


def _segment_frame_and_write(source: FrameSegmenter, store: SuperpixelStore, frame: Frame,
                             overwrite: bool) -> tuple[list[int], int]:
    """Segment the cameras of ``frame`` the store lacks (all with ``overwrite``) in one call and
    write them: their segment counts (:data:`SKIPPED` for each when the source skips the frame)
    and how many cameras were already done."""
    cameras = [c for c in frame.cameras if overwrite or not store.has(c.image_id)]
    already = len(frame.cameras) - len(cameras)
    if not cameras:
        return [], already
    if already:
        frame = replace(frame, cameras=tuple(cameras))
    try:
        maps = source.segment_frame(frame)
    except SkipImage as err:
        log.debug("skipped: %s", err)
        return [SKIPPED] * len(cameras), already
    counts = []
    for camera in cameras:
        if camera.image_id not in maps:
            raise DatasetError(f"frame {frame.frame_id}: the superpixel source returned no map "
                               f"for image {camera.image_id}")
        segments = maps[camera.image_id]
        if segments.shape != camera.image.shape[:2]:
            raise DatasetError(f"image {camera.image_id}: superpixels are {segments.shape}, the "
                               f"image is {camera.image.shape[:2]}")
        store.write(camera.image_id, segments)
        valid = segments[segments != NO_SEGMENT]
        counts.append(int(valid.max()) + 1 if valid.size else 0)
    return counts, already


def _generate_frames(source: FrameSegmenter, frames: FrameSource, frame_indices: range,
                     store: SuperpixelStore, overwrite: bool, start: float) -> SuperpixelReport:
    """:func:`generate` for a source with ``segment_frame``: frame by frame, in this process."""
    images = already = 0
    results: list[int] = []
    name = getattr(source, "name", type(source).__name__)
    for frame_index in tqdm(frame_indices, desc=f"superpixels ({name})", unit="frame"):
        frame = frames[frame_index]
        counts, done = _segment_frame_and_write(source, store, frame, overwrite)
        images, already = images + len(frame.cameras), already + done
        results.extend(counts)
    written = [r for r in results if r != SKIPPED]
    report = SuperpixelReport(store.root, len(frame_indices), images, len(written), already,
                              sum(written) / max(len(written), 1), time.perf_counter() - start,
                              len(results) - len(written))
    log.info(report.summary())
    return report


def _segment_and_write(source: SuperpixelSource, root: Path, camera: CameraView) -> int:
    try:
        segments, classes = segment_image(source, camera)
    except SkipImage as err:
        log.debug("skipped: %s", err)
        return SKIPPED
    SuperpixelStore(root).write(camera.image_id, segments, classes)
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
    images = written = already = skipped = 0
    segments_total = 0
    pending: deque[Future[int]] = deque()
    if isinstance(source, FrameSegmenter):
        if workers > 1:
            log.info("%s segments whole frames in this process; workers=%d ignored (shards "
                     "split a dataset over GPUs)", source.name, workers)
        return _generate_frames(source, frames, frame_indices, store, overwrite, start)
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context) if workers > 1 else None

    def tally(result: int) -> None:
        nonlocal written, segments_total, skipped
        if result == SKIPPED:
            skipped += 1
        else:
            segments_total += result
            written += 1

    def collect(block: bool) -> None:
        while pending and (block or pending[0].done()):
            tally(pending.popleft().result())

    try:
        for frame_index in tqdm(frame_indices, desc=f"superpixels ({source.name})", unit="frame"):
            frame = frames[frame_index]
            for camera in frame.cameras:
                images += 1
                if store.has(camera.image_id) and not overwrite:
                    already += 1
                    continue
                if pool is None:
                    tally(_segment_and_write(source, store.root, camera))
                    continue
                pending.append(pool.submit(_segment_and_write, source, store.root, camera))
                if len(pending) >= 4 * workers:  # bound memory: wait for the oldest
                    collect(block=False)
                    while len(pending) >= 4 * workers:
                        tally(pending.popleft().result())
        collect(block=True)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    report = SuperpixelReport(store.root, len(frame_indices), images, written, already,
                              segments_total / max(written, 1), time.perf_counter() - start,
                              skipped)
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
