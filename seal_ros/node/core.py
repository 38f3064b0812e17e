"""The segmentation node without middleware (the contract is in :mod:`seal_ros.node`).

Threads: the adapter's reader thread calls :meth:`SegmentationNode.on_cloud` (and the camera / TF
callbacks), which never block: a cloud goes into a pending slot of ``queue_size`` scans, and when
the slot is full the oldest pending scan is dropped and counted. The adapter's worker thread calls
:meth:`SegmentationNode.spin_once`, which takes the oldest of the pending (newest ``queue_size``)
scans, runs the pipeline and publishes the outputs somebody subscribes to: outputs never go back in
time, and with the default ``queue_size`` 1 the node always works on the newest scan. Slow inference
therefore drops scans instead of building a backlog, exactly as Autoware's nodes do with a
keep-last queue; memory stays bounded.

A bad input is skipped: counted per reason, reported on ``/diagnostics`` at once (WARN with the
reason), and the next scan is processed as usual.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any

from seal_ros.core.pipeline import Pipeline, ScanResult, SkipReason
from seal_ros.core.transforms import TransformTree
from seal_ros.errors import ConfigError, InputError, TransformError
from seal_ros.model_package import ModelPackage
from seal_ros.node import NODE_NAME, NodeIO
from seal_ros.node.diagnostics import DiagnosticsMonitor, NodeCounters
from seal_ros.node.outputs import MessageFactory, filter_class_ids, palette_lut
from seal_ros.node.overlay import CameraOverlays, NoOverlay
from seal_ros.node.params import NodeParams
from seal_ros.node.topics import TOPICS, Endpoint, overlay_topic, publications, subscriptions

__all__ = ["SegmentationNode"]

log = logging.getLogger(__name__)

class SegmentationNode:
    """Segments PointCloud2 scans; publishes labelled clouds, overlays, timings and diagnostics.

    Constructing the node opens the engine (unless ``pipeline`` is given), checks it against the
    package and publishes the latched ``SegmentationInfo`` once.

    Args:
        io: the middleware (publish, subscriber check, clock).
        params: node parameters; ``params.model_path`` is read when ``package`` is None.
        package: the model package (default: loaded from ``params.model_path``).
        pipeline: a ready pipeline (default: :func:`seal_ros.node.model.open_pipeline`).
        name: node name shown in diagnostics.
        typestore: rosbags typestore for the messages (default: Humble + seal_msgs).

    Raises:
        ConfigError: no/invalid model package, unknown ``filter.classes``, bad extrinsics, or an
            engine whose class count differs from the package's.
        EngineError: a missing/corrupt model file or back end.
    """

    def __init__(self, io: NodeIO, params: NodeParams, package: ModelPackage | None = None,
                 pipeline: Pipeline | None = None, name: str = NODE_NAME,
                 typestore: Any | None = None) -> None:
        if package is None:
            if not params.model_path:
                raise ConfigError("model_path is empty: give the model package YAML (or folder)")
            package = ModelPackage.load(params.model_path)
        if pipeline is None:
            from seal_ros.node.model import open_pipeline

            pipeline = open_pipeline(package, params, topic=TOPICS["input"])
        self.io = io
        self.params = params
        self.package = package
        self.pipeline = pipeline
        self.name = name
        self.messages = MessageFactory(typestore)
        self.lut = palette_lut(package)
        self.filter_ids = filter_class_ids(package, params.filter.classes)
        self.tf = TransformTree()
        self.overlays = CameraOverlays(params.cameras, self.tf)
        self.diagnostics = DiagnosticsMonitor(params.diagnostics, name)
        self._counters = NodeCounters()
        self._pending: deque[tuple[Any, float]] = deque()
        self._cond = threading.Condition()
        self.io.publish(TOPICS["info"], self.messages.info(package, self.io.now_ns()))

    def subscriptions(self) -> list[Endpoint]:
        """What an adapter must subscribe to and feed into the callbacks."""
        return subscriptions(self.params)

    def publications(self) -> list[Endpoint]:
        """What an adapter must be able to publish."""
        return publications(self.params)

    # ------------------------------------------------------------------------ callbacks --

    def on_cloud(self, msg: Any) -> None:
        """Queue a scan (never blocks); the oldest pending scan is dropped when the slot is full."""
        with self._cond:
            self._counters.received += 1
            if len(self._pending) >= self.params.queue_size:
                self._pending.popleft()
                self._counters.dropped += 1
            self._pending.append((msg, time.perf_counter()))
            self._cond.notify()

    def on_image(self, camera: str, msg: Any) -> None:
        self.overlays.on_image(camera, msg)

    def on_camera_info(self, camera: str, msg: Any) -> None:
        self.overlays.on_camera_info(camera, msg)

    def on_tf(self, msg: Any, static: bool = False) -> None:
        """Store a ``TFMessage`` (``/tf_static`` or ``/tf``): newest transform per child frame.

        Both are kept as static edges (no history, memory bounded by the frames): the node looks
        up only camera extrinsics, without a stamp.
        """
        try:
            self.tf.add_message(msg, static=True)
        except (TransformError, ValueError, AttributeError) as err:
            log.warning("ignored a %s message: %s", "/tf_static" if static else "/tf", err)

    # ------------------------------------------------------------------------- worker --

    @property
    def counters(self) -> NodeCounters:
        """A copy of the counters (received, processed, dropped, skipped per reason)."""
        with self._cond:
            return replace(self._counters, skipped=dict(self._counters.skipped))

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def spin_once(self, timeout_s: float = 0.0) -> bool:
        """Process the oldest pending scan (in stamp order), waiting up to ``timeout_s`` for one.

        Returns:
            True when a scan was taken (processed, skipped or not needed), False on timeout.
        """
        with self._cond:
            if not self._pending and timeout_s > 0:
                self._cond.wait_for(lambda: bool(self._pending), timeout=timeout_s)
            item = self._pending.popleft() if self._pending else None
        if item is None:
            self._maybe_publish_diagnostics()
            return False
        self._process(*item)
        return True

    def _wanted(self) -> dict[str, bool]:
        has = self.io.has_subscribers
        wanted = {key: has(TOPICS[key]) for key in ("segmentation", "visualization", "filtered")}
        for cam in self.overlays.names:
            wanted[cam] = has(overlay_topic(cam))
        return wanted

    def _process(self, msg: Any, received_s: float) -> None:
        wanted = self._wanted()
        if not any(wanted.values()):
            with self._cond:
                self._counters.idle += 1
            self._maybe_publish_diagnostics()
            return
        start_s = time.perf_counter()
        try:
            result = self.pipeline.run(msg)
            stages = dict(result.timings_ms)
            self._publish_outputs(result, wanted, stages)
        except InputError as err:
            self.skip(err.reason, str(err))
            return
        except Exception as err:  # a message that breaks processing must not stop the node
            log.exception("scan skipped")
            self.skip(SkipReason.BAD_MESSAGE, f"{type(err).__name__}: {err}")
            return
        end_s = time.perf_counter()
        with self._cond:
            self._counters.processed += 1
            self._counters.nonfinite_points += result.num_nonfinite
            self._counters.out_of_range_points += result.num_out_of_range
            dropped = self._counters.dropped
        self.diagnostics.record_processing((end_s - start_s) * 1e3, time.monotonic_ns())
        frame_id = self.params.frame_id or result.frame_id
        self.io.publish(TOPICS["timing"], self.messages.timing(
            result.stamp_ns, frame_id, stages, (end_s - received_s) * 1e3, result.num_points,
            result.num_voxels, dropped))
        self._maybe_publish_diagnostics()

    def _publish_outputs(self, result: ScanResult, wanted: dict[str, bool],
                         stages: dict[str, float]) -> None:
        frame_id = self.params.frame_id or result.frame_id
        m = self.messages
        builders = {
            "segmentation": lambda: m.segmentation(result, frame_id),
            "visualization": lambda: m.visualization(result, self.lut, frame_id),
            "filtered": lambda: m.filtered(result, self.filter_ids,
                                           self.params.filter.probability_threshold, frame_id),
        }
        for key, build in builders.items():
            if wanted[key]:
                t0 = time.perf_counter()
                self.io.publish(TOPICS[key], build())
                stages[key] = (time.perf_counter() - t0) * 1e3
        colours = None
        for cam in self.overlays.names:
            if not wanted[cam]:
                continue
            t0 = time.perf_counter()
            if colours is None:
                colours = self.lut[result.class_id]
            xyz = result.xyz if result.num_dropped == 0 else result.xyz[result.kept]
            cols = colours if result.num_dropped == 0 else colours[result.kept]
            try:
                overlay = self.overlays.render(cam, xyz, cols, result.stamp_ns, result.frame_id)
            except NoOverlay as why:
                log.debug("no overlay for %s (%s): %s", cam, why.reason, why)
                continue
            self.io.publish(overlay_topic(cam),
                            m.image(overlay.rgb, overlay.stamp_ns, overlay.frame_id))
            stages[f"overlay_{cam}"] = (time.perf_counter() - t0) * 1e3

    def skip(self, reason: str, message: str) -> None:
        """Count a message that cannot be used under ``reason``, log it and report it on
        diagnostics (also for what the adapters could not deserialize)."""
        reason = str(getattr(reason, "value", reason))
        with self._cond:
            self._counters.skipped[reason] = self._counters.skipped.get(reason, 0) + 1
        log.warning("skipped a scan (%s): %s", reason, message)
        self.diagnostics.record_skip(reason, message)
        self.publish_diagnostics()

    def _maybe_publish_diagnostics(self) -> None:
        if self.diagnostics.due(time.monotonic_ns()):
            self.publish_diagnostics()

    def publish_diagnostics(self) -> None:
        """Publish both statuses now (also done on every skip and every ``period_ms``)."""
        statuses = self.diagnostics.statuses(self.counters, time.monotonic_ns())
        self.io.publish(TOPICS["diagnostics"],
                        self.messages.diagnostics(self.io.now_ns(), statuses))
