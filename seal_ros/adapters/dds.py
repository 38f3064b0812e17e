"""A ROS-free transport: plain DDS (cyclonedds) speaking ROS 2's wire format.

Real ROS 2 nodes on ``rmw_cyclonedds_cpp`` (and other DDS RMWs) see these endpoints as ordinary
publishers and subscribers: topic ``/seal/points`` travels as DDS topic ``rt/seal/points``, with
type name ``sensor_msgs::msg::dds_::PointCloud2_`` and XCDR1 data (see :mod:`.dds_types`). The
participant is not a ROS node (no ``ros_discovery_info``), so ``ros2 node list`` does not show it,
but ``ros2 topic list/echo`` do.

Network: unless told otherwise the participant stays on loopback with multicast off
(:data:`LOOPBACK_XML`); a ``CYCLONEDDS_URI`` the user set wins. The configuration is given to the
domain directly, so nothing here writes to the environment.

QoS: the ROS 2 profiles of :mod:`.qos` (``SENSOR_DATA``, ``DEFAULT``, ``LATCHED``), re-exported here
because every endpoint takes one.

Example::

    with DdsTransport() as dds:
        pub = dds.publisher("/seal/points", PointCloud2_, SENSOR_DATA)
        sub = dds.subscriber("/seal/points", "sensor_msgs/msg/PointCloud2", SENSOR_DATA)
        pub.publish(msg)                     # a PointCloud2_ or a rosbags PointCloud2
        for cloud in sub.take(timeout_s=1.0):
            points = codec.decode(cloud)
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seal_ros.adapters.qos import DEFAULT, LATCHED, SENSOR_DATA, Durability, QosProfile, Reliability
from seal_ros.errors import TransportError

LOG = logging.getLogger(__name__)

FAST_DDS_VENDOR = "1.15"  # eProsima's RTPS vendor id

COMPATIBILITY_XML = (f"<Compatibility><IgnoreTypeInformation>{FAST_DDS_VENDOR}"
                     f"</IgnoreTypeInformation></Compatibility>")
"""Match Fast DDS endpoints by type name, ignoring their XTypes type information.

Fast DDS (rclpy's default RMW) announces TypeObjects that Cyclone rejects ("ddsi_xt_type_add_typeobj
with invalid type object"), and then no reader or writer of either side ever matches; by name they
agree (the ROS 2 type names are the contract, as between the ROS 2 RMWs). rclpy on Fast DDS 3.2
and this transport match in ~1 s with it, not within 15 s without (tests/e2e/test_node_rclpy.py).
"""

LOOPBACK_XML = (
    "<CycloneDDS><Domain id='any'>" + COMPATIBILITY_XML + "<General><Interfaces>"
    "<NetworkInterface name='lo'/></Interfaces>"
    "<AllowMulticast>false</AllowMulticast><MaxMessageSize>65000B</MaxMessageSize></General>"
    "<Discovery><ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>50"
    "</MaxAutoParticipantIndex><Peers><Peer address='127.0.0.1'/></Peers></Discovery>"
    "<Internal><SocketReceiveBufferSize max='4MB'/></Internal></Domain></CycloneDDS>"
)
"""Cyclone configuration for loopback-only traffic (unicast discovery to 127.0.0.1), matching
Fast DDS by type name (:data:`COMPATIBILITY_XML`).

64 kB datagrams and up to 4 MB of socket receive buffer (as far as ``net.core.rmem_max`` allows):
with Cyclone's defaults (14.7 kB datagrams, small buffer) a 2 MB cloud loses fragments on
loopback and reliable repair pushes the 90th-percentile latency past 100 ms.
"""

ROS_TOPIC_PREFIX = "rt"
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ----------------------------------------------------------------------------------- config --

def _env_domain_id() -> int:
    raw = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise TransportError(f"ROS_DOMAIN_ID is {raw!r}; expected an integer 0..232") from None


@dataclass(frozen=True, slots=True)
class DdsConfig:
    """Where the transport's participant lives.

    Attributes:
        domain_id: DDS domain (= ``ROS_DOMAIN_ID``, default 0), 0..232.
        loopback_only: keep traffic on ``lo`` with multicast off (default). Ignored when the user
            set ``CYCLONEDDS_URI`` or gave ``interface``.
        interface: network interface name to use instead (e.g. ``eth0`` on the vehicle).
    """

    domain_id: int = field(default_factory=_env_domain_id)
    loopback_only: bool = True
    interface: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= int(self.domain_id) <= 232:
            raise TransportError(f"domain id {self.domain_id} is outside 0..232 (ROS_DOMAIN_ID)")

    def cyclone_xml(self) -> str | None:
        """The configuration given to the domain; None leaves it to Cyclone (``CYCLONEDDS_URI``)."""
        if os.environ.get("CYCLONEDDS_URI"):
            return None
        if self.interface:
            return (f"<CycloneDDS><Domain id='any'>{COMPATIBILITY_XML}<General><Interfaces>"
                    f"<NetworkInterface name='{self.interface}'/></Interfaces></General></Domain>"
                    f"</CycloneDDS>")
        if self.loopback_only:
            return LOOPBACK_XML
        return None


_DOMAINS: dict[int, list[Any]] = {}  # domain id -> [cyclonedds Domain or None, users]
_DOMAINS_LOCK = threading.Lock()


def _acquire_domain(config: DdsConfig) -> None:
    """Create the domain with our configuration once per process (reference counted)."""
    from cyclonedds.core import DDSException
    from cyclonedds.domain import Domain

    with _DOMAINS_LOCK:
        entry = _DOMAINS.get(config.domain_id)
        if entry is None:
            xml = config.cyclone_xml()
            domain = None
            if xml is not None:
                try:
                    domain = Domain(config.domain_id, xml)
                except DDSException as err:  # already created by someone else in this process
                    LOG.warning("DDS domain %d exists already; its configuration stays (%s)",
                                config.domain_id, err)
            entry = _DOMAINS[config.domain_id] = [domain, 0]
        entry[1] += 1


def _release_domain(domain_id: int) -> None:
    with _DOMAINS_LOCK:
        entry = _DOMAINS.get(domain_id)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _DOMAINS[domain_id]
            if entry[0] is not None:
                _delete(entry[0])


def _delete(entity: Any) -> None:
    """Delete a cyclonedds entity now (and its children), not at garbage collection."""
    try:
        entity.__del__()
    except Exception as err:  # already gone with its parent
        LOG.debug("deleting %r: %s", entity, err)


def dds_topic_name(topic: str) -> str:
    """ROS topic -> DDS topic: ``/seal/points`` -> ``rt/seal/points`` (relative names from ``/``).

    Raises:
        TransportError: ``~`` (expand it against the node name first) or an invalid ROS name.
    """
    name = topic.strip()
    if name.startswith("~"):
        raise TransportError(f"topic {topic!r} is private; expand '~' with the node name first")
    tokens = name.lstrip("/").split("/")
    if not name.lstrip("/") or not all(_TOKEN.fullmatch(tok) for tok in tokens):
        raise TransportError(f"topic {topic!r} is not a valid ROS name (tokens of letters, "
                             f"digits and '_', not starting with a digit, separated by '/')")
    return f"{ROS_TOPIC_PREFIX}/" + "/".join(tokens)


# -------------------------------------------------------------------------------- endpoints --

class DdsPublisher:
    """Writes one topic. Accepts the DDS class or any message :func:`to_dds` converts."""

    def __init__(self, writer: Any, msg_cls: type, topic: str, qos: QosProfile) -> None:
        self._writer = writer
        self.msg_cls = msg_cls
        self.topic = topic
        self.qos = qos

    def publish(self, msg: Any, stamp_ns: int | None = None) -> None:
        """Send ``msg``; ``stamp_ns`` sets the DDS source timestamp (default: now)."""
        from seal_ros.adapters.dds_types import to_dds

        if self._writer is None:
            raise TransportError(f"publisher on {self.topic!r} is closed")
        sample = msg if type(msg) is self.msg_cls else to_dds(msg, self.msg_cls)
        if stamp_ns is None:
            self._writer.write(sample)
        else:
            self._writer.write(sample, timestamp=int(stamp_ns))

    @property
    def subscription_count(self) -> int:
        """Matched readers (compute an output only when this is > 0)."""
        return len(self._writer.get_matched_subscriptions()) if self._writer is not None else 0

    def wait_for_subscribers(self, count: int = 1, timeout_s: float = 5.0) -> bool:
        """Block until ``count`` readers match or ``timeout_s`` passes; True when they did."""
        deadline = time.monotonic() + timeout_s
        while self.subscription_count < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        """Delete the writer (idempotent)."""
        if self._writer is not None:
            _delete(self._writer)
            self._writer = None


class DdsSubscriber:
    """Reads one topic, by polling :meth:`take` or by a callback on Cyclone's receive thread."""

    def __init__(self, reader: Any, msg_cls: type, topic: str, qos: QosProfile,
                 has_callback: bool) -> None:
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet

        self._reader = reader
        self.msg_cls = msg_cls
        self.topic = topic
        self.qos = qos
        self._has_callback = has_callback
        self._waitset = None
        self._condition = None
        if not has_callback:
            self._condition = ReadCondition(reader, SampleState.Any | ViewState.Any
                                            | InstanceState.Any)
            self._waitset = WaitSet(reader.participant)
            self._waitset.attach(self._condition)

    def take(self, max_samples: int = 64, timeout_s: float = 0.0) -> list[Any]:
        """Up to ``max_samples`` received samples, oldest first; wait up to ``timeout_s`` for one.

        Each sample is an instance of :attr:`msg_cls` with a ``sample_info`` attribute
        (``source_timestamp`` in ns since the epoch, among others).
        """
        from cyclonedds.util import duration

        if self._reader is None:
            raise TransportError(f"subscriber on {self.topic!r} is closed")
        if self._has_callback or self._waitset is None:
            raise TransportError(f"subscriber on {self.topic!r} delivers to its callback; "
                                 f"create it without callback= to take()")
        waitset = self._waitset
        deadline = time.monotonic() + timeout_s
        while True:
            samples = [s for s in self._reader.take(N=max_samples) if type(s) is self.msg_cls]
            left = deadline - time.monotonic()
            if samples or left <= 0:
                return samples
            waitset.wait(duration(seconds=min(left, 0.5)))

    @property
    def publisher_count(self) -> int:
        """Matched writers."""
        return len(self._reader.get_matched_publications()) if self._reader is not None else 0

    def wait_for_publishers(self, count: int = 1, timeout_s: float = 5.0) -> bool:
        """Block until ``count`` writers match or ``timeout_s`` passes; True when they did."""
        deadline = time.monotonic() + timeout_s
        while self.publisher_count < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        """Delete the reader and its wait set (idempotent)."""
        for entity in (self._waitset, self._condition, self._reader):
            if entity is not None:
                _delete(entity)
        self._waitset = self._condition = self._reader = None


class DdsTransport:
    """One DDS participant with ROS 2 naming; creates publishers and subscribers.

    Args:
        config: domain and network; default :class:`DdsConfig` () (``ROS_DOMAIN_ID``, loopback).

    Raises:
        TransportError: cyclonedds is not installed or the participant cannot be created.
    """

    def __init__(self, config: DdsConfig | None = None) -> None:
        try:
            from cyclonedds.domain import DomainParticipant
        except ImportError as err:
            raise TransportError("the DDS transport needs the 'cyclonedds' package "
                                 "(pip install cyclonedds)") from err
        self.config = config or DdsConfig()
        _acquire_domain(self.config)
        self._participant: Any = None  # None once closed
        try:
            self._participant = DomainParticipant(self.config.domain_id)
        except Exception as err:
            _release_domain(self.config.domain_id)
            raise TransportError(f"cannot create a DDS participant on domain "
                                 f"{self.config.domain_id}: {err}") from err
        self._topics: dict[tuple[str, type], Any] = {}
        self._endpoints: list[DdsPublisher | DdsSubscriber] = []
        self._lock = threading.Lock()

    def _topic(self, topic: str, msg_type: Any) -> tuple[Any, type, str]:
        from cyclonedds.topic import Topic

        from seal_ros.adapters.dds_types import dds_class

        if self._participant is None:
            raise TransportError("transport is closed")
        cls = dds_class(msg_type)
        name = dds_topic_name(topic)
        with self._lock:
            key = (name, cls)
            if key not in self._topics:
                try:
                    self._topics[key] = Topic(self._participant, name, cls)
                except Exception as err:
                    raise TransportError(f"cannot create topic {name!r} of "
                                         f"{cls.__name__}: {err}") from err
            return self._topics[key], cls, name

    def publisher(self, topic: str, msg_type: Any, qos: QosProfile = DEFAULT) -> DdsPublisher:
        """A publisher on ROS topic ``topic`` of ``msg_type`` (DDS class or ROS type name)."""
        from cyclonedds.pub import DataWriter

        dds_topic, cls, name = self._topic(topic, msg_type)
        writer = DataWriter(self._participant, dds_topic, qos.to_cyclone())
        pub = DdsPublisher(writer, cls, topic, qos)
        self._endpoints.append(pub)
        LOG.debug("publishing %s on %s (%s)", cls.__name__, name, qos)
        return pub

    def subscriber(self, topic: str, msg_type: Any, qos: QosProfile = DEFAULT,
                   callback: Callable[[Any], None] | None = None) -> DdsSubscriber:
        """A subscriber on ``topic``; ``callback(sample)`` runs on Cyclone's receive thread.

        Without ``callback`` samples queue (keep-last ``qos.depth``) until :meth:`take`. A
        callback that raises is logged and the next sample still arrives.
        """
        from cyclonedds.core import Listener
        from cyclonedds.sub import DataReader

        dds_topic, cls, name = self._topic(topic, msg_type)
        reader = DataReader(self._participant, dds_topic, qos.to_cyclone())
        if callback is not None:
            # The listener is set after creation: samples arriving while the reader is built
            # (latched history) would reach a reader Python does not know yet and be lost.
            lock = threading.Lock()

            def drain(_: Any = None) -> None:
                with lock:
                    for sample in reader.take(N=max(qos.depth, 64)):
                        if type(sample) is not cls:  # dispose/unregister notices
                            continue
                        try:
                            callback(sample)
                        except Exception:
                            LOG.exception("callback for %s failed; sample skipped", topic)

            reader.set_listener(Listener(on_data_available=drain))
            drain()
        sub = DdsSubscriber(reader, cls, topic, qos, has_callback=callback is not None)
        self._endpoints.append(sub)
        LOG.debug("subscribed to %s %s (%s)", cls.__name__, name, qos)
        return sub

    def close(self) -> None:
        """Delete every endpoint, topic and the participant (idempotent)."""
        if self._participant is None:
            return
        for endpoint in self._endpoints:
            endpoint.close()
        for dds_topic in self._topics.values():
            _delete(dds_topic)
        _delete(self._participant)
        self._participant = None
        self._endpoints.clear()
        self._topics.clear()
        _release_domain(self.config.domain_id)

    def __enter__(self) -> DdsTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEFAULT", "LATCHED", "LOOPBACK_XML", "SENSOR_DATA", "DdsConfig", "DdsPublisher",
           "DdsSubscriber", "DdsTransport", "Durability", "QosProfile", "Reliability",
           "TransportError", "dds_topic_name"]
