"""Run the segmentation node on the ROS-free DDS transport (cyclonedds, ROS 2 wire format).

Usage::

    python -m seal_ros.node --model models/seal/model.yaml --input /lidar_top/points
    python -m seal_ros.node --params config/segment.param.yaml --model pkg/ --engine gather \\
        --cameras cam_front --remap ~/input/cam_front/image:=/cam_front/image_raw \\
        --set filter.classes='[driveable_surface]' --domain-id 3

Topics are those of :mod:`seal_ros.node`; ``~`` expands to ``--output-prefix`` (default
``/seal_segmentation``, i.e. ``/<node name>``), ``--input`` remaps ``~/input/pointcloud`` and
``--remap FROM:=TO`` any other name. A reader thread takes DDS samples and hands them to the node
(byte fields are viewed, never copied element by element); a worker thread processes the pending
scans (keep-last, in order). SIGINT / SIGTERM stop both and close the participant; the exit code
is 0.
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from seal_ros.config_files import parse_overrides
from seal_ros.errors import CodecReason, ConfigError, SealError, TransportError
from seal_ros.node import NODE_NAME
from seal_ros.node.core import SegmentationNode
from seal_ros.node.params import ENGINES, NodeParams, load_params
from seal_ros.node.topics import (
    Endpoint,
    TopicNames,
    feed_decoded,
    parse_remaps,
    publications,
    qos_name,
    run_worker,
    subscriptions,
)

__all__ = ["DdsNodeIO", "main", "run"]

log = logging.getLogger(__name__)


class DdsNodeIO:
    """:class:`~seal_ros.node.NodeIO` over a :class:`~seal_ros.adapters.dds.DdsTransport`.

    Publishers are created up front (from :func:`~seal_ros.node.core.publications`), so
    subscribers are discovered before the first scan and the latched info goes out at once.
    """

    def __init__(self, transport: Any, names: TopicNames, endpoints: Sequence[Endpoint]) -> None:
        self.names = names
        self._pubs = {e.topic: transport.publisher(names(e.topic), e.msgtype, e.qos)
                      for e in endpoints}

    def publish(self, topic: str, msg: Any) -> None:
        self._pubs[topic].publish(msg)

    def has_subscribers(self, topic: str) -> bool:
        return self._pubs[topic].subscription_count > 0

    def now_ns(self) -> int:
        return time.time_ns()


def build_params(args: argparse.Namespace) -> NodeParams:
    """Parameter file, then ``--set`` overrides, then the dedicated flags."""
    overrides = parse_overrides(args.set)
    if args.model:
        overrides["model_path"] = args.model
    if args.engine:
        overrides["engine"] = args.engine
    if args.cameras is not None:
        overrides["cameras.names"] = [c for c in args.cameras.split(",") if c]
    return load_params(args.params, overrides)


def _reader_loop(node: SegmentationNode, subs: list[tuple[Endpoint, Any]], store: Any,
                 stop: threading.Event) -> None:
    """Take samples and feed the node; waits on the cloud reader, drains the others."""
    (cloud, cloud_sub), others = subs[0], subs[1:]
    try:
        while not stop.is_set():
            _drain(node, cloud, cloud_sub, store, timeout_s=0.05)
            for endpoint, sub in others:
                _drain(node, endpoint, sub, store)
    except TransportError as err:  # a closed subscriber: nothing more will arrive
        if not stop.is_set():
            log.error("reader stopped: %s", err)


def _drain(node: SegmentationNode, endpoint: Endpoint, sub: Any, store: Any,
           timeout_s: float = 0.0, limit: int = 64) -> None:
    """Feed up to ``limit`` samples of ``sub``, taken one at a time: Cyclone deserialises inside
    ``take``, so a sample it cannot read (bad CDR, a string that is not UTF-8) raises there and
    costs that one sample only, counted as ``undecodable``."""
    from seal_ros.adapters.dds_types import from_dds

    for i in range(limit):
        try:
            samples = sub.take(max_samples=1, timeout_s=timeout_s if i == 0 else 0.0)
        except TransportError:
            raise
        except Exception as err:  # the deserializer's own errors (UnicodeDecodeError, ...)
            node.skip(CodecReason.UNDECODABLE, f"{endpoint.topic}: a sample does not "
                      f"deserialize ({type(err).__name__}: {err})")
            continue
        if not samples:
            return
        feed_decoded(node, endpoint, functools.partial(from_dds, samples[0], store))


def run(params: NodeParams, names: TopicNames, domain_id: int | None = None,
        stop: threading.Event | None = None, out: Any = sys.stdout) -> SegmentationNode:
    """Run the node until ``stop`` is set; returns it (for its counters)."""
    from seal_ros import interfaces
    from seal_ros.adapters import dds
    from seal_ros.model_package import ModelPackage
    from seal_ros.node.model import open_pipeline

    stop = stop or threading.Event()
    store = interfaces.typestore()
    if not params.model_path:
        raise ConfigError("no model package: give --model (or model_path in --params)")
    package = ModelPackage.load(params.model_path)  # model errors before any DDS traffic
    pipeline = open_pipeline(package, params, topic=names("~/input/pointcloud"))
    config = dds.DdsConfig() if domain_id is None else dds.DdsConfig(domain_id=domain_id)
    with dds.DdsTransport(config) as transport:
        io = DdsNodeIO(transport, names, publications(params))
        node = SegmentationNode(io, params, package=package, pipeline=pipeline, typestore=store)
        subs = [(e, transport.subscriber(names(e.topic), e.msgtype, e.qos))
                for e in subscriptions(params)]
        print(f"seal_segmentation: model {node.package.model_id} ({node.package.num_classes} "
              f"classes), engine {params.engine}, DDS domain {config.domain_id}", file=out)
        for e in subscriptions(params):
            print(f"  subscribe  {names(e.topic):45s} {e.msgtype} ({qos_name(e.qos)})", file=out)
        for e in publications(params):
            print(f"  publish    {names(e.topic):45s} {e.msgtype} ({qos_name(e.qos)})", file=out)
        print("ready", file=out, flush=True)
        threads = [threading.Thread(target=_reader_loop, args=(node, subs, store, stop),
                                    name="seal-reader", daemon=True),
                   threading.Thread(target=run_worker, args=(node, stop), name="seal-worker",
                                    daemon=True)]
        for thread in threads:
            thread.start()
        while not stop.wait(0.2):
            pass
        for thread in threads:
            thread.join(timeout=30)
    return node


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m seal_ros.node", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", help="node parameter file (config/segment.param.yaml layout)")
    parser.add_argument("--model", help="model package YAML or folder (parameter model_path)")
    parser.add_argument("--engine", choices=ENGINES, help="inference engine (parameter engine)")
    parser.add_argument("--input", help="topic remapped onto ~/input/pointcloud")
    parser.add_argument("--output-prefix", default=f"/{NODE_NAME}",
                        help="what ~ expands to (default: %(default)s)")
    parser.add_argument("--cameras", help="comma-separated camera names for overlays "
                        "(parameter cameras.names)")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="remap a topic, e.g. ~/input/cam_front/image:=/cam_front/image_raw")
    parser.add_argument("--domain-id", type=int, help="DDS domain (default: ROS_DOMAIN_ID or 0)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter, e.g. --set queue_size=2 (YAML value)")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        params = build_params(args)
        remaps = parse_remaps(args.remap)
        if args.input:
            remaps["~/input/pointcloud"] = args.input
        node = run(params, TopicNames(args.output_prefix, remaps), args.domain_id, stop)
    except SealError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(node.counters.summary(), flush=True)
    return 0
