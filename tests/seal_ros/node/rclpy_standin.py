"""A recording stand-in for the few rclpy APIs the adapter calls, so its wiring (declared
parameters, QoS kinds, raw subscriptions, CDR conversion) runs where ROS 2 is absent. The
``ros``-marked tests run the same paths on real rclpy."""

from __future__ import annotations

import enum
import sys
import types
from typing import Any

PARAMETER_TYPES = ("STRING_ARRAY", "DOUBLE_ARRAY")


class _Param:
    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


class _Endpoint:
    def __init__(self, msg_type: Any, topic: str, qos: Any, callback: Any = None,
                 raw: bool = False) -> None:
        self.msg_type, self.topic_name, self.qos = msg_type, topic, qos
        self.callback, self.raw = callback, raw
        self.published: list[Any] = []
        self.subscribers = 0

    def publish(self, msg: Any) -> None:
        self.published.append(msg)

    def get_subscription_count(self) -> int:
        return self.subscribers


class Node:
    """rclpy.node.Node: parameters from ``overrides`` (what --params-file / -p would give)."""

    overrides: dict[str, Any] = {}

    def __init__(self, name: str, cli_args: Any = None) -> None:
        self.name = name
        self.parameters: dict[str, Any] = {}
        self.publishers: dict[str, _Endpoint] = {}
        self.subscriptions: dict[str, _Endpoint] = {}

    def declare_parameter(self, name: str, value: Any) -> _Param:
        if isinstance(value, Parameter.Type):  # declared by type: unset unless overridden
            value = None
        self.parameters[name] = self.overrides.get(name, value)
        return _Param(name, self.parameters[name])

    def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> _Endpoint:
        self.publishers[topic] = _Endpoint(msg_type, topic, qos)
        return self.publishers[topic]

    def create_subscription(self, msg_type: Any, topic: str, callback: Any, qos: Any,
                            raw: bool = False) -> _Endpoint:
        self.subscriptions[topic] = _Endpoint(msg_type, topic, qos, callback, raw)
        return self.subscriptions[topic]

    def get_logger(self) -> Any:
        return types.SimpleNamespace(info=lambda text: None)


class Parameter:
    Type = enum.Enum("Type", PARAMETER_TYPES)


def install(monkeypatch: Any, store: Any) -> None:
    """Put the stand-in modules in ``sys.modules``; messages are rosbags classes of ``store``."""
    modules = {name: types.ModuleType(name) for name in (
        "rclpy", "rclpy.node", "rclpy.parameter", "rclpy.qos", "rclpy.serialization",
        "rosidl_runtime_py", "rosidl_runtime_py.utilities")}
    modules["rclpy.node"].Node = Node
    modules["rclpy.parameter"].Parameter = Parameter
    qos = modules["rclpy.qos"]
    qos.qos_profile_sensor_data = "sensor_data"
    qos.ReliabilityPolicy = enum.Enum("ReliabilityPolicy", ("RELIABLE", "BEST_EFFORT"))
    qos.DurabilityPolicy = enum.Enum("DurabilityPolicy", ("VOLATILE", "TRANSIENT_LOCAL"))
    qos.QoSProfile = lambda **kw: types.SimpleNamespace(**kw)
    modules["rclpy.serialization"].deserialize_message = \
        lambda data, cls: ("deserialized", bytes(data), cls)
    modules["rosidl_runtime_py.utilities"].get_message = lambda name: store.types[name]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
