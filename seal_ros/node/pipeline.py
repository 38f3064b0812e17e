"""The segmentation pipeline without middleware: PointCloud2 in, per-point labels out, timed.

decode (+ validate) -> voxelize -> kernel maps -> engine -> labels. The node, the replay tool and
the tests run this same code, so what is measured offline is what runs on the vehicle.

Validation follows the model package: the cloud must carry ``input.fields`` as scalar fields inside
``point_step``, its data must be ``height * row_step`` bytes, and its size must lie inside
``profile.points`` / ``profile.voxels``. A violation raises :class:`~seal_ros.errors.InputError`
with a ``reason`` (one of :class:`SkipReason`) and a message naming the field and what was expected;
the node counts the reason and goes on. Points with a non-finite coordinate or feature are left out
of the network input but keep their place in the output (class ``ignore_id``, probability 0).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from seal_ros.core import codec
from seal_ros.core.engines import Engine
from seal_ros.core.kernel_maps import build_kernel_maps
from seal_ros.core.voxelize import voxelize
from seal_ros.errors import CodecError, EngineError, InputError
from seal_ros.model_package import ModelPackage

__all__ = ["Pipeline", "ScanResult", "SkipReason", "labels_from_logits"]

UNLABELLED_ID = 255
"""class_id of dropped (non-finite) points when the package has no ``ignore_id``."""


class SkipReason(str, enum.Enum):
    """Why an input cloud was skipped (the key it is counted under on diagnostics)."""

    BAD_LAYOUT = "bad_layout"  # unknown datatype, duplicate field, row_step too small, ...
    POINT_STEP = "point_step"  # point_step smaller than the fields it must hold
    MISSING_FIELD = "missing_field"  # a field of the package's input.fields is absent
    DATA_LENGTH = "data_length"  # len(data) != height * row_step
    EMPTY = "empty"  # no points
    NO_FINITE_POINTS = "no_finite_points"  # every point has a NaN/inf coordinate or feature
    TOO_MANY_POINTS = "too_many_points"  # more than profile.points max
    TOO_FEW_POINTS = "too_few_points"  # fewer than profile.points min
    TOO_MANY_VOXELS = "too_many_voxels"  # more than profile.voxels max
    BAD_MESSAGE = "bad_message"  # any other error raised while processing the message


@dataclass(frozen=True, eq=False)
class ScanResult:
    """Labels of one scan, aligned with its input points.

    Attributes:
        points: (N,) structured view of the input cloud (its own layout and byte order).
        xyz: (N, 3) float32 coordinates, sensor frame (non-finite ones as received).
        class_id: (N,) uint8 predicted class (``ignore_id`` for dropped points).
        probability: (N,) float32 probability of that class (0 for dropped points).
        finite: (N,) bool, False for points left out of the network input.
        num_voxels: occupied voxels at scale 0.
        stamp_ns, frame_id: the input's header.
        timings_ms: stage name -> milliseconds, in processing order.
    """

    points: np.ndarray
    xyz: np.ndarray
    class_id: np.ndarray
    probability: np.ndarray
    finite: np.ndarray
    num_voxels: int
    stamp_ns: int
    frame_id: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def num_points(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def num_nonfinite(self) -> int:
        return int(self.finite.size - np.count_nonzero(self.finite))


def labels_from_logits(logits: torch.Tensor, ignore_id: int | None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Softmax, mask ``ignore_id``, argmax: (N,) uint8 class ids and (N,) float32 probabilities."""
    probs = torch.softmax(logits.float(), dim=1)  # (N, K)
    if ignore_id is not None:
        probs[:, ignore_id] = 0.0  # never predicted (SLidR masks it at prediction)
    probability, class_id = probs.max(dim=1)
    return (class_id.to(torch.uint8).cpu().numpy(),
            probability.to(torch.float32).cpu().numpy())


class _Clock:
    """Stage timer: ``with clock("voxelize"): ...`` adds milliseconds under that name."""

    def __init__(self, sync: bool) -> None:
        self.sync = sync
        self.ms: dict[str, float] = {}

    def __call__(self, name: str) -> _Clock:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        if self.sync:  # GPU work is asynchronous: wait for it or the numbers lie
            torch.cuda.synchronize()
        self.ms[self._name] = (time.perf_counter() - self._t0) * 1e3


class Pipeline:
    """Runs one model package's network on PointCloud2 messages.

    Args:
        package: the model package (fields, features, grid, profile, classes).
        engine: an engine built for that package (see :func:`seal_ros.node.model.load_engine`).
        device: where voxelisation and kernel maps run (``cpu`` or ``cuda``).
        topic: input topic name used in error messages.
    """

    def __init__(self, package: ModelPackage, engine: Engine, device: str = "cpu",
                 topic: str = "~/input/pointcloud") -> None:
        self.package = package
        self.engine = engine
        self.device = torch.device(device)
        self.topic = topic
        self.stem_kernel = int(package.network.get("stem_kernel", 3))
        self.feature_scale = np.asarray(package.input.feature_scale, dtype=np.float32)
        self.fill_id = UNLABELLED_ID if package.ignore_id is None else package.ignore_id

    # ---------------------------------------------------------------------------- checks --

    def _where(self) -> str:
        return str(self.package.path or self.package.model_id)

    def _structured(self, msg: Any) -> np.ndarray:
        """Validate the layout against the package and return the decoded view."""
        height, width = int(msg.height), int(msg.width)
        point_step, row_step = int(msg.point_step), int(msg.row_step)
        fields = codec.fields_of(msg)
        for f in fields:
            if f.datatype not in codec.DATATYPE_DTYPES:
                raise InputError(SkipReason.BAD_LAYOUT, f"{self.topic}: field {f.name!r} has "
                                 f"datatype {f.datatype}; expected 1..8 (sensor_msgs/PointField)")
            end = f.offset + f.dtype.itemsize * f.count
            if end > point_step:
                raise InputError(SkipReason.POINT_STEP, f"{self.topic}: point_step {point_step} "
                                 f"is smaller than the fields: {f.name!r} "
                                 f"({codec.PointFieldType(f.datatype).name} x {f.count} at "
                                 f"offset {f.offset}) ends at byte {end}")
        by_name = {f.name: f for f in fields}
        for name in self.package.input.fields:
            if name not in by_name:
                raise InputError(SkipReason.MISSING_FIELD, f"{self.topic}: cloud has no field "
                                 f"{name!r}; model package {self._where()} needs input.fields "
                                 f"{list(self.package.input.fields)}, the cloud has "
                                 f"{list(by_name)}")
            if by_name[name].count != 1:
                raise InputError(SkipReason.BAD_LAYOUT, f"{self.topic}: field {name!r} has count "
                                 f"{by_name[name].count}; expected a scalar (count 1)")
        expected = height * row_step
        size = _nbytes(msg.data)
        if row_step >= width * point_step and size != expected:
            raise InputError(SkipReason.DATA_LENGTH, f"{self.topic}: data has {size} bytes; "
                             f"expected height {height} x row_step {row_step} = {expected}")
        try:
            points = codec.decode(msg)
        except CodecError as err:
            raise InputError(SkipReason.BAD_LAYOUT, f"{self.topic}: {err}") from err
        n = len(points)
        lo, _, hi = self.package.profile.points
        if n == 0:
            raise InputError(SkipReason.EMPTY, f"{self.topic}: cloud has no points "
                             f"(height {height} x width {width})")
        if n > hi:
            raise InputError(SkipReason.TOO_MANY_POINTS, f"{self.topic}: cloud has {n} points, "
                             f"more than profile.points max {hi} of model package "
                             f"{self._where()}; raise profile.points in the package")
        if n < lo:
            raise InputError(SkipReason.TOO_FEW_POINTS, f"{self.topic}: cloud has {n} points, "
                             f"fewer than profile.points min {lo} of model package "
                             f"{self._where()}; lower profile.points in the package")
        return points

    # ------------------------------------------------------------------------------- run --

    def run(self, msg: Any) -> ScanResult:
        """Segment one PointCloud2-like message (rosbags, cyclonedds, rclpy or CloudData).

        Raises:
            InputError: the message cannot be processed (``reason`` says why).
        """
        clock = _Clock(sync=self.device.type == "cuda")
        spec = self.package.input
        with clock("decode"):
            points = self._structured(msg)
            xyz = codec.read_points(points, codec.XYZ, np.float32)  # (N, 3)
            feats = codec.read_points(points, spec.features, np.float32)  # (N, C)
            feats *= self.feature_scale
            finite = codec.finite_mask(xyz) & codec.finite_mask(feats)  # (N,)
            keep = None if finite.all() else np.flatnonzero(finite)
            if keep is not None and keep.size == 0:
                raise InputError(SkipReason.NO_FINITE_POINTS, f"{self.topic}: all {len(xyz)} "
                                 f"points have a NaN/inf coordinate or feature")
        with clock("voxelize"):
            net_xyz = torch.from_numpy(xyz if keep is None else xyz[keep]).to(self.device)
            net_feats = torch.from_numpy(feats if keep is None else feats[keep]).to(self.device)
            offsets = torch.tensor([0, net_xyz.shape[0]], dtype=torch.int64)
            batch = voxelize(net_xyz, net_feats, offsets, self.package.grid)
            num_voxels = int(batch.coords.shape[0])
            if num_voxels > self.package.profile.voxels[2]:
                raise InputError(SkipReason.TOO_MANY_VOXELS, f"{self.topic}: cloud has "
                                 f"{num_voxels} voxels, more than profile.voxels max "
                                 f"{self.package.profile.voxels[2]} of model package "
                                 f"{self._where()}; raise profile.voxels in the package")
        with clock("kernel_maps"):
            maps = build_kernel_maps(batch.coords, stem_kernel=self.stem_kernel,
                                     spatial_shape=batch.spatial_shape)
        with clock("inference"):
            logits = self.engine.infer(batch.features, batch.inverse, maps)  # (N', K)
        if logits.ndim != 2 or logits.shape[1] != self.package.num_classes:
            raise EngineError(f"engine {self.engine.name} returned {tuple(logits.shape)} logits; "
                              f"expected (points, {self.package.num_classes})")
        with clock("labels"):
            cls, prob = labels_from_logits(logits, self.package.ignore_id)
            if keep is not None:
                class_id = np.full(len(xyz), self.fill_id, dtype=np.uint8)
                probability = np.zeros(len(xyz), dtype=np.float32)
                class_id[keep], probability[keep] = cls, prob
            else:
                class_id, probability = cls, prob
        header = msg.header if hasattr(msg, "header") else None
        stamp_ns = (codec.stamp_to_ns(header.stamp) if header is not None
                    else int(getattr(msg, "stamp_ns", 0)))
        frame_id = str(header.frame_id) if header is not None else str(getattr(msg, "frame_id",
                                                                               ""))
        return ScanResult(points=points, xyz=xyz, class_id=class_id, probability=probability,
                          finite=finite, num_voxels=num_voxels, stamp_ns=stamp_ns,
                          frame_id=frame_id, timings_ms=clock.ms)

    # ---------------------------------------------------------------------------- start --

    def warmup_cloud(self, seed: int = 0) -> codec.CloudData:
        """A deterministic ring-shaped scan with the package's fields inside its profile."""
        lo, opt, hi = self.package.profile.points
        n = int(min(max(lo, min(opt, self.package.profile.voxels[1], 4096)), hi))
        rng = np.random.default_rng(seed)
        angle = rng.uniform(-np.pi, np.pi, n)
        radius = rng.uniform(3.0, 30.0, n)
        columns = {name: rng.random(n, dtype=np.float32) for name in self.package.input.fields}
        columns["x"] = (radius * np.cos(angle)).astype(np.float32)
        columns["y"] = (radius * np.sin(angle)).astype(np.float32)
        columns["z"] = rng.uniform(-1.8, 1.0, n).astype(np.float32)
        return codec.encode(columns, frame_id="warmup")

    def warmup(self) -> ScanResult:
        """Run one synthetic scan: checks the engine's output width and warms caches up.

        Raises:
            ConfigError: the engine's class count disagrees with the package's class list.
        """
        cloud = self.warmup_cloud()
        points = codec.decode(cloud)
        xyz = torch.from_numpy(codec.read_points(points, codec.XYZ)).to(self.device)
        feats = codec.read_points(points, self.package.input.features) * self.feature_scale
        batch = voxelize(xyz, torch.from_numpy(feats).to(self.device),
                         torch.tensor([0, xyz.shape[0]]), self.package.grid)
        maps = build_kernel_maps(batch.coords, stem_kernel=self.stem_kernel,
                                 spatial_shape=batch.spatial_shape)
        logits = self.engine.infer(batch.features, batch.inverse, maps)
        self.package.check_engine_classes(int(logits.shape[1]))
        return self.run(cloud)


def _nbytes(data: Any) -> int:
    """Byte length of a message's ``data`` (array, bytes, memoryview or list of ints)."""
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    if isinstance(data, memoryview):
        return int(data.nbytes)
    return len(data)
