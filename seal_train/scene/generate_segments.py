"""Segment every scan pair of a dataset into a store: resumable, parallel, sharded.

Frames are read once, in order, in the main process (:func:`~seal_train.scene.pairs.iter_pairs`);
pairs go to a process pool that clusters them and writes the ``.npz`` itself (atomic writes), so
killing the run loses at most the pairs in flight. Pairs already in the store are skipped without
loading their frames. ``shard=(i, n)`` takes the pairs starting at frames i, i+n, i+2n, ..., so n
machines split one dataset. The manifest's pair list is merged and rewritten when a run ends; a
pair whose file an interrupted run left unlisted is listed by the next run (its file names its
partner). Pretraining calls :func:`seal_train.scene.segment_store.ensure_segments`, which runs this
on all cores.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from seal_ros.errors import ConfigError
from seal_train.scene.pairs import SegmentParams, iter_pairs, pair_rule_text, segment_pair
from seal_train.scene.segment_store import SegmentManifest, SegmentStore
from seal_train.sources.detect import FrameSource
from seal_train.sources.frame import Frame

__all__ = ["SegmentReport", "cluster_counts", "generate_segments"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentReport:
    """What a run did."""

    out: Path
    pairs: int  # pairs of this shard
    written: int  # clustered and written now
    already_done: int  # found in the store and skipped
    mean_clusters: float  # per pair written now
    seconds: float

    def summary(self) -> str:
        clusters = (f"{self.mean_clusters:.1f} clusters per written pair on average; "
                    if self.written else "")
        return (f"segments in {self.out}: {self.pairs} pairs; {self.written} written, "
                f"{self.already_done} already done; {clusters}{self.seconds:.1f} s")


def _segment_and_write(root: Path, frame_a: Frame, frame_b: Frame, params: SegmentParams,
                       seed: int) -> int:
    """Cluster one pair and store it (runs in a pool worker); its number of clusters."""
    ids_a, ids_b = segment_pair(frame_a, frame_b, params, seed)
    SegmentStore(root).write(frame_a.frame_id, frame_b.frame_id, ids_a, ids_b)
    top = max(int(ids_a.max(initial=-1)), int(ids_b.max(initial=-1)))
    return top + 1


def generate_segments(frames: FrameSource, out: str | Path, params: SegmentParams | None = None,
                      offset: int = 1, seed: int = 0, workers: int = 1,
                      shard: tuple[int, int] = (0, 1), overwrite: bool = False) -> SegmentReport:
    """Segment every pair (t, t+``offset``) of ``frames`` (this shard) into the store at ``out``.

    Raises:
        ConfigError: a bad shard or offset.
        DatasetError: the store holds another setting (the message names the key), a sequence
            has no ego poses, or a stored file is corrupt.
    """
    params = params or SegmentParams()
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: expected 0 <= index < count")
    store = SegmentStore(out)
    wanted = SegmentManifest(params.to_dict(), pair_rule_text(offset), seed)
    manifest = store.open_for(wanted, overwrite=overwrite)
    known = {} if overwrite else dict(manifest.pairs)
    ids = frames.frame_ids
    start = time.perf_counter()
    found: dict[str, str] = {}  # this shard's pairs
    written = already = clusters = 0

    def done(t: int) -> bool:
        nonlocal already
        frame_id = ids[t]
        if overwrite or not store.has(frame_id):
            return False
        found[frame_id] = known.get(frame_id) or store.stored_partner(frame_id)
        already += 1
        return True

    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context) if workers > 1 else None
    pending: deque[Future[int]] = deque()
    indices = range(index, len(frames), count)
    try:
        for _, frame_a, frame_b in tqdm(iter_pairs(frames, offset, indices, done),
                                        desc="segments", unit="pair"):
            found[frame_a.frame_id] = frame_b.frame_id
            if pool is None:
                clusters += _segment_and_write(store.root, frame_a, frame_b, params, seed)
                written += 1
                continue
            pending.append(pool.submit(_segment_and_write, store.root, frame_a, frame_b, params,
                                       seed))
            while len(pending) >= 2 * workers:  # bound memory: wait for the oldest
                clusters += pending.popleft().result()
                written += 1
        while pending:
            clusters += pending.popleft().result()
            written += 1
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _list_pairs(store, wanted, {**known, **found}, ids)
    report = SegmentReport(store.root, len(found), written, already, clusters / max(written, 1),
                           time.perf_counter() - start)
    log.info(report.summary())
    return report


def _list_pairs(store: SegmentStore, wanted: SegmentManifest, pairs: dict[str, str],
                ids: list[str]) -> None:
    """Rewrite the manifest with the union of its pairs (re-read now: another shard may have
    finished meanwhile) and ``pairs`` whose files exist, in dataset order."""
    current = store.manifest()
    merged = dict(current.pairs) if current is not None else {}
    merged.update({a: b for a, b in pairs.items() if store.has(a)})
    position = {frame_id: i for i, frame_id in enumerate(ids)}
    order = sorted(merged, key=lambda a: position.get(a, len(position)))
    store.write_manifest(replace(wanted, pairs=tuple((a, merged[a]) for a in order)))


def cluster_counts(store: SegmentStore) -> np.ndarray:
    """Clusters in each stored pair, in manifest order (for summaries and tests)."""
    counts = []
    for frame_a, _ in store.pairs():
        ids_a, ids_b = store.read(frame_a)
        counts.append(max(int(ids_a.max(initial=-1)), int(ids_b.max(initial=-1))) + 1)
    return np.asarray(counts, dtype=np.int64)
