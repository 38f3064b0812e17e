"""Open the engine a model package asks for, and fail at start (not per scan) when it cannot run.

``onnxruntime`` and ``tensorrt`` run the package's ONNX; ``torch`` and ``gather`` run its
``checkpoint`` (weights). :func:`open_pipeline` builds the engine, wraps it in a
:class:`~seal_ros.core.pipeline.Pipeline` and runs one warm-up scan, which checks that the engine's
output width equals the package's class count.
"""

from __future__ import annotations

import logging

import torch

from seal_ros.core.engines import ENGINES, Engine
from seal_ros.core.pipeline import Pipeline
from seal_ros.core.sparse_net import tensorrt_profile as network_profile
from seal_ros.errors import ConfigError, EngineError
from seal_ros.model_package import ModelPackage
from seal_ros.node.params import NodeParams

__all__ = ["load_engine", "open_pipeline", "tensorrt_profile"]

log = logging.getLogger(__name__)


def tensorrt_profile(package: ModelPackage) -> dict[str, tuple[int, int, int]]:
    """(min, opt, max) of every dynamic ONNX input from the package's points/voxels profile.

    The TensorRT engine cache is keyed by this profile; ``seal_train export`` builds with this same
    function so the node finds the engine it made.
    """
    return network_profile(package.profile.points, package.profile.voxels,
                           int(package.network.get("stem_kernel", 3)))


def load_engine(package: ModelPackage, params: NodeParams) -> Engine:
    """The engine ``params.engine`` for ``package``.

    Raises:
        ConfigError: a weights engine without ``checkpoint`` in the package.
        EngineError: a missing or corrupt model file, or a missing back end.
    """
    if params.threads > 0:
        torch.set_num_threads(params.threads)
    name = params.engine
    cls = ENGINES[name]
    if name in ("torch", "gather"):
        if package.checkpoint is None:
            raise ConfigError(f"{package.path or package.model_id}: engine {name!r} runs from "
                              f"weights but the package has no 'checkpoint'; add one or use "
                              f"engine onnxruntime/tensorrt")
        return cls(package.checkpoint, device=params.device)  # type: ignore[call-arg]
    if name == "onnxruntime":
        return cls(package.onnx, threads=params.threads)  # type: ignore[call-arg]
    return cls(package.onnx, profile=tensorrt_profile(package),  # type: ignore[call-arg]
               precision=params.precision, build_only=params.build_only)


def open_pipeline(package: ModelPackage, params: NodeParams, topic: str = "~/input/pointcloud",
                  engine: Engine | None = None) -> Pipeline:
    """Engine + pipeline, warmed up and checked against the package's classes.

    Raises:
        ConfigError: the engine's output width differs from the package's class count.
        EngineError: the engine cannot be opened or fails on the warm-up scan.
    """
    engine = engine if engine is not None else load_engine(package, params)
    device = params.device if params.engine in ("torch", "gather") else "cpu"
    pipeline = Pipeline(package, engine, device=device, topic=topic)
    if params.engine == "tensorrt" and params.build_only:
        return pipeline
    try:
        pipeline.warmup()
    except (ConfigError, EngineError):
        raise
    except Exception as err:  # a back end failing on a valid scan: the model is unusable
        raise EngineError(f"{package.path or package.model_id}: engine {engine.name} failed on "
                          f"the warm-up scan: {err}") from err
    log.info("engine %s ready for %s (%d classes)", engine.name, package.model_id,
             package.num_classes)
    return pipeline
