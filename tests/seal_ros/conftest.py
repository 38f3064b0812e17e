"""Fixtures of the runtime tests: the node helpers, a tiny random-weight package and its
pipeline."""

from __future__ import annotations

from types import ModuleType

import pytest

import support.node_helpers


@pytest.fixture(scope="session")
def h() -> ModuleType:
    """:mod:`support.node_helpers` (tiny packages, messages, a recording NodeIO)."""
    return support.node_helpers


@pytest.fixture(scope="module")
def package(h, tmp_path_factory):
    from seal_ros.model_package import ModelPackage

    return ModelPackage.load(h.write_package(tmp_path_factory.mktemp("pkg")))


@pytest.fixture(scope="module")
def pipeline(package):
    from seal_ros.node.model import open_pipeline
    from seal_ros.node.params import NodeParams

    return open_pipeline(package, NodeParams(engine="gather", threads=1))
