"""The segmentation node on rclpy: ``ros2 run seal_ros seal_segmentation`` (or the launch file).

A thin adapter around :class:`~seal_ros.node.core.SegmentationNode`: it declares the parameters of
:class:`~seal_ros.node.params.NodeParams` (nested fields flattened with dots, defaults from the
dataclass; ``config/segment.param.yaml`` and launch arguments override them), creates the
publishers and subscriptions the core lists, and moves messages as CDR bytes, so the core only
ever sees ``rosbags`` messages:

- in: subscriptions with ``raw=True`` hand over the serialized message, deserialised by the
  rosbags typestore (a PointCloud2's ``data`` stays one numpy view of the received bytes);
- out: rosbags ``serialize_cdr`` -> ``rclpy.serialization.deserialize_message`` -> publish.

A worker thread runs ``spin_once`` while the executor thread only queues inputs, so slow inference
drops scans instead of stalling callbacks. ``use_sim_time`` is rclpy's own parameter: with it the
node's clock (stamps of timing/diagnostics) follows ``/clock``. ``build_only:=true`` builds (or
finds) the TensorRT engine and exits 0.

rclpy exists only in a ROS 2 install: this module imports it inside :func:`main` and
:class:`RclpyNodeIO`, so the parameter table can be read (and tested) anywhere.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seal_ros.adapters.qos import Durability, QosProfile, Reliability
from seal_ros.node import NODE_NAME
from seal_ros.node.params import NodeParams, load_params
from seal_ros.node.topics import Endpoint, feed_decoded, publications, run_worker, subscriptions

__all__ = ["ParamSpec", "RclpyNodeIO", "main", "message_class", "parameter_table",
           "params_from_values"]

log = logging.getLogger(__name__)

EXTRINSICS = "cameras.extrinsics"  # a mapping: declared per camera as cameras.extrinsics.<name>


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One ROS parameter of the node.

    Attributes:
        name: flattened name (``filter.classes``).
        default: the dataclass default.
        kind: ROS parameter type: bool, integer, double, string, string_array, double_array.
    """

    name: str
    default: Any
    kind: str


def _kind(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple):
        return "string_array"  # every tuple field of NodeParams lists names
    raise TypeError(f"NodeParams.{name}: no ROS parameter type for {type(value).__name__}")


def parameter_table(cls: type = NodeParams, prefix: str = "") -> list[ParamSpec]:
    """Every parameter the node declares, in dataclass order (``cameras.extrinsics`` excluded:
    it is a mapping, declared per camera name as a 16-number ``double_array``)."""
    out: list[ParamSpec] = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
        name = prefix + f.name
        if dataclasses.is_dataclass(default):
            out += parameter_table(type(default), name + ".")
        elif name != EXTRINSICS:
            out.append(ParamSpec(name, default, _kind(default, name)))
    return out


def params_from_values(values: Mapping[str, Any]) -> NodeParams:
    """NodeParams from flattened ROS parameter values (None = not set: the default applies).

    Raises:
        ConfigError: a value of the wrong type or not allowed (names the parameter).
    """
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if not isinstance(value, (str, bytes, Mapping)) and hasattr(value, "__iter__"):
            value = list(value)  # rclpy gives array.array for double arrays
        flat[name] = value
    return load_params(None, flat)


def message_class(msgtype: str) -> type:
    """The rclpy message class of ``pkg/msg/Name`` (what ``rosidl_runtime_py``'s ``get_message``
    does; that package is not among ROS 2's PyPI wheels).

    Raises:
        ConfigError: the interface package is not importable (names it and how to build it).
    """
    import importlib

    from seal_ros.errors import ConfigError

    package, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        hint = " (bash msg/build_interfaces.sh builds it)" if package in ("seal_msgs",
                                                                          "tf2_msgs") else ""
        raise ConfigError(f"ROS interface {msgtype} is not importable: {err}{hint}") from err


class RclpyNodeIO:
    """The rclpy node: parameters, publishers, raw subscriptions, and :class:`NodeIO`.

    Args:
        node_name: ROS node name (remappings and ``~`` use it).
        args: ROS arguments (``--ros-args ...``) for the node; None uses the process's.
    """

    def __init__(self, node_name: str = NODE_NAME, args: Sequence[str] | None = None) -> None:
        import rclpy
        from rclpy.node import Node

        from seal_ros import interfaces

        self.rclpy = rclpy
        self.node = Node(node_name, cli_args=list(args) if args is not None else None)
        self.store = interfaces.typestore()
        self.params = self._declare_parameters()
        self._classes: dict[str, type] = {}
        self._pubs: dict[str, Any] = {}
        self._subs: list[Any] = []

    # ------------------------------------------------------------------------ parameters --

    def _declare(self, spec: ParamSpec) -> Any:
        from rclpy.parameter import Parameter

        from seal_ros.errors import ConfigError

        types = {"string_array": Parameter.Type.STRING_ARRAY,
                 "double_array": Parameter.Type.DOUBLE_ARRAY}
        try:
            if spec.kind in types and not spec.default:
                # An empty list has no ROS type: declare by type, unset means the default.
                return self.node.declare_parameter(spec.name, types[spec.kind]).value
            default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
            return self.node.declare_parameter(spec.name, default).value
        except Exception as err:  # rclpy's InvalidParameterTypeException and friends
            raise ConfigError(f"parameter {spec.name}: {err} (expected {spec.kind})") from err

    def _declare_parameters(self) -> NodeParams:
        values = {spec.name: self._declare(spec) for spec in parameter_table()}
        for camera in values.get("cameras.names") or ():
            values[f"{EXTRINSICS}.{camera}"] = self._declare(
                ParamSpec(f"{EXTRINSICS}.{camera}", (), "double_array"))
        return params_from_values(values)

    # --------------------------------------------------------------------------- topics --

    @staticmethod
    def _qos(profile: QosProfile) -> Any:
        """The rclpy ``QoSProfile`` of one of the node's profiles."""
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        return QoSProfile(
            depth=profile.depth,
            reliability=(ReliabilityPolicy.BEST_EFFORT
                         if profile.reliability is Reliability.BEST_EFFORT
                         else ReliabilityPolicy.RELIABLE),
            durability=(DurabilityPolicy.TRANSIENT_LOCAL
                        if profile.durability is Durability.TRANSIENT_LOCAL
                        else DurabilityPolicy.VOLATILE))

    def _msg_class(self, msgtype: str) -> type:
        if msgtype not in self._classes:
            self._classes[msgtype] = message_class(msgtype)
        return self._classes[msgtype]

    def create_publishers(self, endpoints: Sequence[Endpoint]) -> None:
        """Publishers for the core's :func:`~seal_ros.node.core.publications` (before the core
        exists, so the latched info it publishes at construction has a publisher)."""
        for e in endpoints:
            self._pubs[e.topic] = self.node.create_publisher(self._msg_class(e.msgtype), e.topic,
                                                             self._qos(e.qos))

    def subscribe(self, core: Any, endpoints: Sequence[Endpoint]) -> None:
        """Raw subscriptions feeding the core's callbacks with rosbags messages."""
        for e in endpoints:
            self._subs.append(self.node.create_subscription(
                self._msg_class(e.msgtype), e.topic,
                self._raw_callback(core, e), self._qos(e.qos), raw=True))

    def _raw_callback(self, core: Any, endpoint: Endpoint) -> Any:
        """Deserialise in the callback: bytes that do not decode are a counted skip."""
        def callback(data: bytes) -> None:
            try:
                feed_decoded(core, endpoint,
                             lambda: self.store.deserialize_cdr(data, endpoint.msgtype))
            except Exception:  # a failing callback must not end the executor
                log.exception("dropped a %s message", endpoint.msgtype)

        return callback

    def log_topics(self, headline: str) -> None:
        """Log the resolved (remapped) topic of every subscription and publisher."""
        lines = [headline]
        lines += [f"  subscribe  {getattr(s, 'topic_name', '?')}" for s in self._subs]
        lines += [f"  publish    {getattr(p, 'topic_name', t)}" for t, p in self._pubs.items()]
        self.node.get_logger().info("\n".join(lines))

    # ------------------------------------------------------------------------- NodeIO --

    def publish(self, topic: str, msg: Any) -> None:
        from rclpy.serialization import deserialize_message

        data = self.store.serialize_cdr(msg, msg.__msgtype__)
        pub = self._pubs[topic]
        pub.publish(deserialize_message(bytes(data), pub.msg_type))

    def has_subscribers(self, topic: str) -> bool:
        pub = self._pubs.get(topic)
        return pub is not None and pub.get_subscription_count() > 0

    def now_ns(self) -> int:
        return int(self.node.get_clock().now().nanoseconds)


class _RosLogHandler(logging.Handler):
    """Python logging -> the node's rclpy logger (so messages reach /rosout)."""

    def __init__(self, logger: Any) -> None:
        super().__init__()
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.levelno >= logging.ERROR:
            self.logger.error(text)
        elif record.levelno >= logging.WARNING:
            self.logger.warning(text)
        elif record.levelno >= logging.INFO:
            self.logger.info(text)
        else:
            self.logger.debug(text)


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGINT / SIGTERM end the executor loop; the worker finishes its scan and rclpy shuts down
    after it (rclpy's own handlers would invalidate the context under a publishing worker)."""
    import signal

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run seal_ros seal_segmentation``."""
    try:
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
    except ImportError:
        print("error: rclpy is not importable; source a ROS 2 install (or run the DDS node: "
              "python -m seal_ros.node)", file=sys.stderr)
        return 1
    from seal_ros.adapters.loopback import init_rclpy
    from seal_ros.errors import SealError
    from seal_ros.node.core import SegmentationNode

    try:
        rclpy = init_rclpy(list(argv) if argv is not None else sys.argv,
                           signal_handler_options=SignalHandlerOptions.NO)
    except SealError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    io: RclpyNodeIO | None = None
    core: SegmentationNode | None = None
    worker: threading.Thread | None = None
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        io = RclpyNodeIO()
        logging.basicConfig(level=logging.INFO, handlers=[_RosLogHandler(io.node.get_logger())],
                            format="%(name)s: %(message)s")
        params = io.params
        io.create_publishers(publications(params))
        core = SegmentationNode(io, params, name=io.node.get_name(), typestore=io.store)
        if params.build_only:
            io.node.get_logger().info(f"build_only: engine for {core.package.model_id} is ready")
            return 0
        io.subscribe(core, subscriptions(params))
        io.log_topics(f"model {core.package.model_id} ({core.package.num_classes} classes), "
                      f"engine {params.engine}")
        print("ready", flush=True)
        worker = threading.Thread(target=run_worker, args=(core, stop), name="seal-worker",
                                  daemon=True)
        worker.start()
        executor = SingleThreadedExecutor()
        executor.add_node(io.node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except SealError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
        if io is not None:
            io.node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    if core is not None:
        print(core.counters.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
