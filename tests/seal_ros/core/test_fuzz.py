"""Fuzzing the PointCloud2 decoder and the node pipeline (hypothesis).

Random layouts, byte lengths and values (huge, NaN, infinite, denormal): the only outcomes are a
decoded cloud / a processed scan, or a CodecError / InputError with a reason; never another
exception or a hang (each example has a deadline). Points made unusable (non-finite or beyond the
voxel grid) never change the labels of the others: those equal the labels of the same scan
without them. CI runs ``SEAL_FUZZ_EXAMPLES`` examples per test (default 40); a long run by hand:

    SEAL_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/seal_ros/core/test_fuzz.py
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seal_ros.core import codec
from seal_ros.core.pipeline import ScanResult, SkipReason
from seal_ros.errors import CodecError, InputError

EXAMPLES = int(os.environ.get("SEAL_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
NAMES = ["x", "y", "z", "intensity", "ring", "t", ""]
WEIRD = [np.nan, np.inf, -np.inf, 1e20, -1e30, 3.4e38, 1e9, -1e12, 5e5]
"""Coordinates that make a point unusable: non-finite, or beyond the voxel grid's range."""
DENORMALS = [1e-40, -1e-45, 0.0, -0.0, 1e-38]

field_spec = st.tuples(st.sampled_from(NAMES), st.integers(-4, 40), st.integers(-1, 10),
                       st.integers(0, 3))


def _message(h, fields, height, width, point_step, row_step, data: bytes, bigendian: bool):
    T = h.STORE.types
    header = T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=1, nanosec=2),
                                      frame_id="lidar")
    return T["sensor_msgs/msg/PointCloud2"](
        header=header, height=height, width=width,
        fields=[T["sensor_msgs/msg/PointField"](name=n, offset=o, datatype=d, count=c)
                for n, o, d, c in fields],
        is_bigendian=bigendian, point_step=point_step, row_step=row_step,
        data=np.frombuffer(data, np.uint8), is_dense=False)


@FUZZ
@given(fields=st.lists(field_spec, max_size=8), height=st.integers(0, 3),
       width=st.integers(0, 40), point_step=st.integers(-2, 48), extra_row=st.integers(-8, 8),
       length_delta=st.integers(-16, 16), bigendian=st.booleans(), seed=st.integers(0, 2**16))
def test_decoder_decodes_or_names_a_reason(h, fields, height, width, point_step, extra_row,
                                           length_delta, bigendian, seed) -> None:
    row_step = max(0, width * max(point_step, 0) + extra_row)
    size = max(0, height * row_step + length_delta)
    data = np.random.default_rng(seed).bytes(size)
    msg = _message(h, fields, height, width, point_step, row_step, data, bigendian)
    try:
        points = codec.decode(msg, require=codec.XYZ)
        xyz = codec.read_points(points, codec.XYZ)
    except CodecError as err:
        assert err.reason in set(codec.CodecReason) and str(err)
        return
    assert xyz.shape == (height * width, 3) and xyz.dtype == np.float32


@FUZZ
@given(n=st.integers(0, 400), point_step_pad=st.integers(0, 6), length_delta=st.integers(-8, 8),
       values=st.lists(st.sampled_from(WEIRD + DENORMALS + [1.0, -3.5, 40.0]), min_size=1,
                       max_size=12),
       seed=st.integers(0, 2**16), bigendian=st.booleans())
def test_pipeline_processes_or_skips_with_a_reason(h, pipeline, n, point_step_pad, length_delta,
                                                   values, seed, bigendian) -> None:
    rng = np.random.default_rng(seed)
    scan = {k: v[:n] for k, v in h.random_scan(max(n, 4), seed=seed % 97).items()}
    for column in ("x", "y", "z", "intensity"):  # scatter the weird values
        hit = rng.integers(0, max(n, 1), len(values))
        if n:
            scan[column][hit] = np.asarray(values, np.float32)
    msg = h.cloud_message(scan, is_bigendian=bigendian)
    if point_step_pad or length_delta:  # a wrong byte count or a point_step that lies
        data = bytes(msg.data)
        data = data[:max(0, len(data) + length_delta)] if length_delta < 0 else \
            data + b"\0" * length_delta
        msg.data = np.frombuffer(data, np.uint8)
        msg.point_step += point_step_pad
    try:
        result = pipeline.run(msg)
    except InputError as err:
        assert err.reason in set(SkipReason) and str(err)
        return
    assert isinstance(result, ScanResult) and result.num_points == len(scan["x"])
    assert result.class_id.shape == (result.num_points,)
    assert np.isfinite(result.probability).all()


@FUZZ
@given(bad=st.sets(st.integers(0, 1499), min_size=1, max_size=30),
       values=st.lists(st.sampled_from(WEIRD), min_size=1, max_size=30),
       axis=st.sampled_from(["x", "y", "z", "intensity"]))
def test_unusable_points_never_change_the_labels_of_the_others(h, pipeline, bad, values,
                                                               axis) -> None:
    scan = h.random_scan(1500, seed=4)
    index = np.array(sorted(bad))
    if axis == "intensity":  # only non-finite features drop a point (a large one is a value)
        values = [v if not np.isfinite(v) else np.nan for v in values]
    corrupted = {k: v.copy() for k, v in scan.items()}
    corrupted[axis][index] = np.resize(np.asarray(values, np.float32), len(index))
    keep = np.setdiff1d(np.arange(1500), index)
    result = pipeline.run(h.cloud_message(corrupted))
    reference = pipeline.run(h.cloud_message({k: v[keep] for k, v in scan.items()}))
    assert result.num_dropped == len(index)
    np.testing.assert_array_equal(result.class_id[keep], reference.class_id)
    np.testing.assert_array_equal(result.probability[keep], reference.probability)
    assert (result.class_id[index] == 0).all() and (result.probability[index] == 0).all()


def test_a_scan_of_only_unusable_points_is_skipped(h, pipeline) -> None:
    scan = h.random_scan(500, seed=5)
    scan["x"][:250] = np.nan
    scan["x"][250:] = 1e20
    with pytest.raises(InputError, match="250 have a NaN/inf .* 250 lie out of range") as err:
        pipeline.run(h.cloud_message(scan))
    assert err.value.reason is SkipReason.NO_FINITE_POINTS
