"""Replay a recording through the segmentation node: mIoU, latency percentiles, an output bag.

Usage::

    python -m seal_ros.replay drive/scene-0000 --model pkg/model.yaml
    python -m seal_ros.replay run.bag --model pkg/ --engine gather --rate 1.0 --out seg.mcap
    python -m seal_ros.replay drive/scene-0000 --model pkg/ --label-map labels.yaml --max-speed

The same :class:`~seal_ros.node.core.SegmentationNode` as on the vehicle runs over the clouds of the
bag. ``--max-speed`` (default) processes every scan; ``--rate R`` feeds scans from a thread at R x
the recorded speed, so a slow engine drops scans exactly as it would live (counted). With a label
field in the clouds and a label map (``--label-map``, or ``labels.yaml`` in/beside the bag) the
replay prints the mIoU over one confusion matrix of all processed scans (ignore class excluded). The
output bag (MCAP) holds the segmentation, visualization, timing, info and diagnostics messages under
the node's topic names, for RViz or Foxglove.

A scan the node never sees is still counted: one that does not deserialize (``undecodable``) or
whose label field cannot be read (the codec's reason) is skipped with its topic and stamp, and
the summary lists it. A damaged MCAP recording is replayed up to the damage; the summary says
what was lost. ``--overwrite`` replaces only a previous replay output, never the input.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seal_ros.config_files import parse_overrides
from seal_ros.core import codec
from seal_ros.core.metrics import ConfusionMatrix
from seal_ros.errors import CodecError, CodecReason, SealError
from seal_ros.labels import LabelMap, PackageLabels, find_label_map, match_package
from seal_ros.model_package import ModelPackage
from seal_ros.node import NODE_NAME
from seal_ros.node.core import SegmentationNode
from seal_ros.node.params import ENGINES, load_params
from seal_ros.node.topics import TOPICS, TopicNames
from seal_ros.replay.bag import CloudBag, OutputBag, SkippedScan
from seal_ros.replay.metrics import LatencyStats

__all__ = ["ReplaySummary", "format_summary", "main", "replay"]

log = logging.getLogger(__name__)
RECORDED = ("segmentation", "visualization", "timing", "info", "diagnostics")
SHOWN_SKIPS = 10  # skipped scans listed in the summary (all are counted)


@dataclass
class ReplaySummary:
    """What a replay did and measured."""

    bag: Path
    topic: str
    scans: int
    processed: int
    dropped: int
    skipped: dict[str, int]
    mode: str
    seconds: float
    latency_ms: dict[str, tuple[float, ...]]
    miou: float | None = None
    iou: dict[str, float] = field(default_factory=dict)
    evaluated_points: int = 0
    label_map: str = ""
    out: Path | None = None
    written: dict[str, int] = field(default_factory=dict)
    skips: list[SkippedScan] = field(default_factory=list)  # the replay's own (topic, stamp)
    recovery: str | None = None  # what a damaged recording lost (None: read whole)


class _Evaluator:
    """Ground truth of pending scans (bounded) and the confusion matrix of processed ones."""

    def __init__(self, mapping: PackageLabels, field_name: str, package: ModelPackage) -> None:
        self.mapping, self.field_name = mapping, field_name
        self.matrix = ConfusionMatrix(package.num_classes, ignore_id=package.ignore_id)
        self._truth: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, msg: Any) -> None:
        """Keep the scan's labels for its segmentation.

        Raises:
            CodecError: the cloud or its label field does not decode (the scan is skipped).
        """
        if not any(f.name == self.field_name for f in msg.fields):
            return
        truth = self.mapping.to_package(codec.read_field(msg, self.field_name, np.int64))
        if truth.ndim != 1:
            raise CodecError(CodecReason.BAD_VALUES, f"label field {self.field_name!r} has "
                             f"{truth.shape[1]} values per point, expected 1")
        with self._lock:
            self._truth[codec.stamp_to_ns(msg.header.stamp)] = truth
            while len(self._truth) > 64:  # dropped / skipped scans never come back
                self._truth.popitem(last=False)

    def on_segmentation(self, msg: Any) -> None:
        with self._lock:
            truth = self._truth.pop(codec.stamp_to_ns(msg.header.stamp), None)
        if truth is not None:
            prediction = codec.read_field(msg, "class_id", np.int64)
            # dropped (non-finite) points of a package without ignore_id carry UNLABELLED_ID:
            # not evaluated
            truth = np.where(prediction < self.matrix.num_classes, truth, -1)
            self.matrix.update(prediction=prediction, truth=truth)


class _Feed:
    """Hands each scan of the bag to the node, and skips (counted, with topic and stamp) the
    ones that do not deserialize or whose labels do not decode: one bad scan must not end the
    replay. Called from the feeder thread at ``--rate``."""

    def __init__(self, node: SegmentationNode, io: ReplayIO, evaluator: _Evaluator | None,
                 topic: str) -> None:
        self.node, self.io, self.evaluator, self.topic = node, io, evaluator, topic
        self.skips: list[SkippedScan] = []

    def __call__(self, t_ns: int, msg: Any) -> bool:
        """True when the node took the scan."""
        self.io.clock_ns = t_ns
        if isinstance(msg, SkippedScan):
            return self._skip(msg)
        if self.evaluator is not None:
            try:
                self.evaluator.remember(msg)
            except CodecError as err:
                stamp = codec.stamp_to_ns(msg.header.stamp)
                return self._skip(SkippedScan(self.topic, stamp, t_ns, str(err.reason),
                                              f"labels not readable: {err}"))
        self.node.on_cloud(msg)
        return True

    def _skip(self, skip: SkippedScan) -> bool:
        log.warning("skipped a scan: %s", skip)
        self.skips.append(skip)
        return False

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for skip in self.skips:
            out[skip.reason] = out.get(skip.reason, 0) + 1
        return out


class ReplayIO:
    """:class:`~seal_ros.node.NodeIO` of the replay: outputs go to the bag and the metrics."""

    def __init__(self, names: TopicNames, out: OutputBag | None, outputs: set[str],
                 evaluator: _Evaluator | None) -> None:
        self.names, self.out, self.outputs, self.evaluator = names, out, outputs, evaluator
        self.latency = LatencyStats()
        self.clock_ns = 0

    def publish(self, topic: str, msg: Any) -> None:
        if topic == TOPICS["timing"]:
            self.latency.add(msg.stage_names, msg.stage_ms, msg.total_ms)
        if topic == TOPICS["segmentation"] and self.evaluator is not None:
            self.evaluator.on_segmentation(msg)
        if self.out is not None and topic in self.outputs:
            stamp = codec.stamp_to_ns(msg.header.stamp) or self.clock_ns
            self.out.write(self.names(topic), msg.__msgtype__, msg, stamp)

    def has_subscribers(self, topic: str) -> bool:
        return topic in self.outputs or topic == TOPICS["segmentation"]

    def now_ns(self) -> int:
        return self.clock_ns


def _output_path(out: str | Path) -> Path:
    """``OUT.mcap`` -> folder ``OUT`` (rosbag2 writes ``OUT/OUT.mcap`` and its metadata)."""
    out = Path(out)
    return out.with_suffix("") if out.suffix == ".mcap" else out


def replay(bag: str | Path, model: str | Path | None = None, params: str | Path | None = None,
           engine: str | None = None, rate: float | None = None, topic: str | None = None,
           label_field: str = "label", label_map: str | Path | None = None,
           out: str | Path | None = None, overwrite: bool = False, filtered: bool = False,
           overrides: dict[str, Any] | None = None, progress: bool = True) -> ReplaySummary:
    """Replay ``bag`` through the node; ``rate`` None = every scan as fast as possible.

    Raises:
        SealError: bad bag, topic, parameters, package, engine or label map (message names which).
    """
    from tqdm import tqdm

    from seal_ros import interfaces

    overrides = dict(overrides or {})
    if model is not None:
        overrides["model_path"] = str(model)
    if engine is not None:
        overrides["engine"] = engine
    node_params = load_params(params, overrides)
    if rate is not None and not rate > 0:
        raise SealError(f"--rate {rate}: expected a positive speed factor")
    store = interfaces.typestore()
    source = CloudBag(bag, topic, store)
    output = None
    try:
        package = ModelPackage.load(node_params.model_path) if node_params.model_path else None
        if package is None:
            raise SealError("no model package: give --model (or model_path in --params)")
        map_path = Path(label_map) if label_map else find_label_map(source.path)
        evaluator = None if map_path is None else _Evaluator(
            match_package(LabelMap.from_yaml(map_path), package), label_field, package)
        outputs = {TOPICS[k] for k in RECORDED} | ({TOPICS["filtered"]} if filtered else set())
        if out is not None:
            output = OutputBag(_output_path(out), store, overwrite, protect=source.path,
                               prefix=f"/{NODE_NAME}/")
        io = ReplayIO(TopicNames(f"/{NODE_NAME}"), output, outputs, evaluator)
        io.clock_ns = source.start_ns
        node = SegmentationNode(io, node_params, package=package, typestore=store)
        feed = _Feed(node, io, evaluator, source.topic)
        start = time.perf_counter()
        with tqdm(total=len(source), unit="scan", desc="replay", disable=not progress) as bar:
            if rate is None:
                for t_ns, msg in source.clouds():
                    if feed(t_ns, msg):
                        node.spin_once()
                    bar.update(1)
            else:
                _feed_at_rate(source, node, feed, rate, bar)
        seconds = time.perf_counter() - start
        node.publish_diagnostics()  # final counters in the bag
    finally:
        source.close()
        if output is not None:
            output.close()
    c = node.counters
    skipped = dict(c.skipped)
    for reason, n in feed.counts().items():
        skipped[reason] = skipped.get(reason, 0) + n
    summary = ReplaySummary(
        bag=Path(bag), topic=source.topic, scans=c.received + len(feed.skips),
        processed=c.processed, dropped=c.dropped, skipped=skipped, seconds=seconds,
        mode="max speed" if rate is None else f"{rate:g}x recorded speed",
        latency_ms=io.latency.percentiles(), out=output.path if output else None,
        written={k: v for k, v in (output.counts if output else {}).items()},
        skips=list(feed.skips), recovery=source.recovery)
    if evaluator is not None:
        scores = evaluator.matrix.scores(package.class_names)
        summary.miou = scores.miou
        summary.iou = {name: float(v)
                       for name, v in zip(scores.class_names, scores.iou, strict=True)}
        summary.evaluated_points = scores.points
        summary.label_map = evaluator.mapping.source
    return summary


def _feed_at_rate(source: CloudBag, node: SegmentationNode, feed: _Feed, rate: float,
                  bar: Any) -> None:
    """A feeder thread plays the clouds at ``rate`` x recorded speed; this thread processes."""
    done = threading.Event()
    failure: list[BaseException] = []

    def play() -> None:
        try:
            start, first = time.monotonic(), None
            for t_ns, msg in source.clouds():
                first = t_ns if first is None else first
                wait = start + (t_ns - first) / 1e9 / rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                feed(t_ns, msg)
                bar.update(1)
        except BaseException as err:  # re-raised in the caller's thread
            failure.append(err)
        finally:
            done.set()

    thread = threading.Thread(target=play, name="seal-replay-feeder", daemon=True)
    thread.start()
    while not (done.is_set() and node.pending == 0):
        node.spin_once(timeout_s=0.05)
    thread.join()
    if failure:
        raise failure[0]


def format_summary(s: ReplaySummary) -> str:
    """The end-of-run report: counts, mIoU per class, latency percentiles, output paths."""
    skipped = sum(s.skipped.values())
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.skipped.items()))
    lines = [f"replay of {s.bag} ({s.topic}, {s.mode}): {s.scans} scans in {s.seconds:.1f} s",
             f"  processed {s.processed}, dropped {s.dropped}, skipped {skipped}"
             + (f" ({reasons})" if reasons else "")]
    lines += [f"  skipped {skip}" for skip in s.skips[:SHOWN_SKIPS]]
    if len(s.skips) > SHOWN_SKIPS:
        lines.append(f"  ... and {len(s.skips) - SHOWN_SKIPS} more skipped by the replay")
    if s.recovery is not None:
        lines.append(f"damaged recording: {s.recovery}")
    if s.miou is not None:
        lines.append(f"mIoU {100 * s.miou:.2f} % over {s.evaluated_points} points "
                     f"({len(s.iou)} classes, ignore excluded; label map {s.label_map})")
        lines += [f"  {name:24s} {'-' if np.isnan(v) else f'{100 * v:6.2f}'}"
                  for name, v in s.iou.items()]
    else:
        lines.append("mIoU: not computed (no label field or no label map)")
    if s.latency_ms:
        lines.append(f"latency ms {'p50':>16s} {'p95':>8s} {'p99':>8s}")
        lines += [f"  {name:20s} {p[0]:8.2f} {p[1]:8.2f} {p[2]:8.2f}"
                  for name, p in s.latency_ms.items()]
    if s.out is not None:
        lines.append(f"wrote {s.out / (s.out.name + '.mcap')}: "
                     + ", ".join(f"{t} {n}" for t, n in s.written.items()))
    return "\n".join(lines)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m seal_ros.replay", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bag", help="rosbag2 folder (sqlite3/MCAP) or ROS 1 .bag")
    parser.add_argument("--model", help="model package YAML or folder")
    parser.add_argument("--params", help="node parameter file (config/segment.param.yaml)")
    parser.add_argument("--engine", choices=ENGINES, help="inference engine")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--rate", type=float, help="feed at R x recorded speed (drops scans "
                       "when inference is slower, as live)")
    speed.add_argument("--max-speed", action="store_true", help="process every scan (default)")
    parser.add_argument("--topic", help="cloud topic (default: the bag's only PointCloud2)")
    parser.add_argument("--label-field", default="label", help="per-point label field")
    parser.add_argument("--label-map", help="label map YAML (semantic-kitti.yaml layout); "
                        "default labels.yaml in or beside the bag")
    parser.add_argument("--out", help="output bag (MCAP rosbag2 folder; OUT.mcap -> OUT/)")
    parser.add_argument("--filtered", action="store_true", help="also record ~/output/filtered")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a node parameter (YAML value)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = replay(args.bag, args.model, args.params, args.engine, args.rate, args.topic,
                         args.label_field, args.label_map, args.out, args.overwrite,
                         args.filtered, parse_overrides(args.set), progress=not args.no_progress)
    except SealError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    return 0
