"""Fixtures of the node tests: the helpers module, a tiny random-weight package and its pipeline."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

HELPERS = Path(__file__).with_name("node_helpers.py")


def load_helpers() -> ModuleType:
    """``node_helpers`` by path (tests import in importlib mode: no package to import from)."""
    spec = importlib.util.spec_from_file_location("node_helpers", HELPERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def h() -> ModuleType:
    return load_helpers()


@pytest.fixture(scope="module")
def package(h, tmp_path_factory):
    from seal_ros.model_package import ModelPackage

    return ModelPackage.load(h.write_package(tmp_path_factory.mktemp("pkg")))


@pytest.fixture(scope="module")
def pipeline(package):
    from seal_ros.node.model import open_pipeline
    from seal_ros.node.params import NodeParams

    return open_pipeline(package, NodeParams(engine="gather", threads=1))
