"""The segmentation pipeline without middleware: PointCloud2 in, per-point labels out, timed.

decode (+ validate) -> voxelize -> kernel maps -> engine -> labels. The node, the replay tool and
the tests run this same code, so what is measured offline is what runs on the vehicle.

Validation follows the model package: the cloud must carry ``input.fields`` as scalar fields inside
``point_step``, its data must be ``height * row_step`` bytes, and its size must lie inside
``profile.points`` / ``profile.voxels``. A violation raises :class:`~seal_ros.errors.InputError`
with a ``reason`` (one of :class:`SkipReason`) and a message naming the field and what was expected;
the node counts the reason and goes on. Points with a non-finite coordinate or feature, and
finite points too far out for the voxel grid (a cell index of
:data:`~seal_ros.core.voxelize.MAX_CELL_INDEX` or more, e.g. |x| = 1e9 m), are left out of the
network input but keep their place in the output (class ``ignore_id``, probability 0); both are
counted. A left-out point never reaches the voxel keys, so it cannot change the others' labels.
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
from seal_ros.core.prediction import labels_from_logits
from seal_ros.core.synthetic_scan import lidar_like_scan
from seal_ros.core.voxelize import MAX_CELL_INDEX, cells_in_range, voxelize
from seal_ros.errors import CodecError, CodecReason, EngineError, InputError
from seal_ros.model_package import ModelPackage

__all__ = ["Pipeline", "ScanResult", "SkipReason"]

UNLABELLED_ID = 255
"""class_id of dropped (non-finite or out-of-range) points when the package has no
``ignore_id``."""


class SkipReason(enum.StrEnum):
    """Why an input cloud was skipped (the key it is counted under on diagnostics). The first
    seven are the codec's (:class:`seal_ros.errors.CodecReason`), by value."""

    BAD_LAYOUT = CodecReason.BAD_LAYOUT.value  # unknown datatype, duplicate field, overlap ...
    TOO_MANY_FIELDS = CodecReason.TOO_MANY_FIELDS.value  # more than codec.MAX_FIELDS fields
    POINT_STEP = CodecReason.POINT_STEP.value  # point_step smaller than the fields it must hold
    MISSING_FIELD = CodecReason.MISSING_FIELD.value  # a field of input.fields is absent
    DATA_LENGTH = CodecReason.DATA_LENGTH.value  # len(data) != height * row_step
    BAD_VALUES = CodecReason.BAD_VALUES.value  # data of the wrong type
    UNDECODABLE = CodecReason.UNDECODABLE.value  # message bytes that do not deserialize
    EMPTY = "empty"  # no points
    NO_FINITE_POINTS = "no_finite_points"  # every point is non-finite (NaN/inf) or out of range
    TOO_MANY_POINTS = "too_many_points"  # more than profile.points max
    TOO_FEW_POINTS = "too_few_points"  # fewer than profile.points min
    TOO_MANY_VOXELS = "too_many_voxels"  # more than profile.voxels max
    BAD_MESSAGE = "bad_message"  # any other error raised while processing the message


@dataclass(frozen=True, eq=False)
class ScanResult:
    """Labels of one scan, aligned with its input points.

    Attributes:
        points: (N,) structured view of the input cloud (its own layout and byte order).
        xyz: (N, 3) float32 coordinates, sensor frame (dropped ones as received).
        class_id: (N,) uint8 predicted class (``ignore_id`` for dropped points).
        probability: (N,) float32 probability of that class (0 for dropped points).
        kept: (N,) bool, False for points left out of the network input (dropped).
        num_voxels: occupied voxels at scale 0.
        num_nonfinite: dropped points with a NaN/inf coordinate or feature.
        num_out_of_range: dropped points that are finite but beyond the voxel grid's range.
        stamp_ns, frame_id: the input's header.
        timings_ms: stage name -> milliseconds, in processing order.
    """

    points: np.ndarray
    xyz: np.ndarray
    class_id: np.ndarray
    probability: np.ndarray
    kept: np.ndarray
    num_voxels: int
    stamp_ns: int
    frame_id: str
    num_nonfinite: int = 0
    num_out_of_range: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def num_points(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def num_dropped(self) -> int:
        """Points left out of the network input (non-finite or out of range)."""
        return self.num_nonfinite + self.num_out_of_range


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
        """Decode the cloud (the codec checks its layout and the package's fields) and check its
        size against the package's profile."""
        try:
            points = codec.decode(msg, require=self.package.input.fields)
        except CodecError as err:
            hint = ""
            if err.reason == CodecReason.MISSING_FIELD:
                hint = (f"; model package {self._where()} needs input.fields "
                        f"{list(self.package.input.fields)}")
            raise InputError(SkipReason(err.reason), f"{self.topic}: {err}{hint}") from err
        height, width = int(msg.height), int(msg.width)
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
            try:
                xyz = codec.read_points(points, codec.XYZ, np.float32)  # (N, 3)
                feats = codec.read_points(points, spec.features, np.float32)  # (N, C)
            except CodecError as err:  # a field of count > 1 where a scalar is needed
                raise InputError(SkipReason(err.reason), f"{self.topic}: {err}") from err
            feats *= self.feature_scale
            finite = codec.finite_mask(xyz) & codec.finite_mask(feats)  # (N,)
            # NaN compares False, so non-finite points are out of range too
            grid = self.package.grid
            kept = cells_in_range(torch.from_numpy(xyz), grid).numpy() & finite
            num_nonfinite = int(finite.size - np.count_nonzero(finite))
            num_out_of_range = int(finite.size - np.count_nonzero(kept)) - num_nonfinite
            keep = None if num_nonfinite + num_out_of_range == 0 else np.flatnonzero(kept)
            if keep is not None and keep.size == 0:
                raise InputError(SkipReason.NO_FINITE_POINTS, f"{self.topic}: none of the "
                                 f"{len(xyz)} points can be used: {num_nonfinite} have a NaN/inf "
                                 f"coordinate or feature, {num_out_of_range} lie out of range "
                                 f"(a cell index of {MAX_CELL_INDEX} or more in the "
                                 f"{grid.kind.value} voxel grid {list(grid.cell_size)})")
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
        if logits.ndim != 2:
            raise EngineError(f"engine {self.engine.name} returned {tuple(logits.shape)} logits; "
                              f"expected (points, {self.package.num_classes})")
        self.package.check_engine_classes(int(logits.shape[1]))
        with clock("labels"):
            cls_t, prob_t = labels_from_logits(logits, ignore_id=self.package.ignore_id)
            cls, prob = cls_t.to(torch.uint8).cpu().numpy(), prob_t.cpu().numpy()
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
                          kept=kept, num_voxels=num_voxels, stamp_ns=stamp_ns,
                          frame_id=frame_id, num_nonfinite=num_nonfinite,
                          num_out_of_range=num_out_of_range, timings_ms=clock.ms)

    # ---------------------------------------------------------------------------- start --

    def warmup_cloud(self, seed: int = 0) -> codec.CloudData:
        """The synthetic scan (:mod:`seal_ros.core.synthetic_scan`) with the package's fields,
        its size inside the package's input profile."""
        lo, opt, hi = self.package.profile.points
        n = int(min(max(lo, min(opt, self.package.profile.voxels[1], 4096)), hi))
        fields = self.package.input.fields
        xyz, values = lidar_like_scan(n, seed, channels=len(fields))
        columns = {name: values[:, i] for i, name in enumerate(fields)}
        columns.update(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2])
        return codec.encode(columns, frame_id="warmup")

    def warmup(self) -> ScanResult:
        """Run one synthetic scan: checks the engine's output width and warms caches up.

        Raises:
            ConfigError: the engine's class count disagrees with the package's class list.
        """
        return self.run(self.warmup_cloud())
