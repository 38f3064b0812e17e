"""The pipeline equals offline inference, validates inputs with clear errors, fails at start."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from seal_ros.core import codec
from seal_ros.core.engines import GatherEngine
from seal_ros.core.kernel_maps import build_kernel_maps
from seal_ros.core.pipeline import SkipReason
from seal_ros.core.voxelize import VoxelGrid, voxelize
from seal_ros.errors import ConfigError, EngineError, InputError
from seal_ros.model_package import ModelPackage
from seal_ros.node.model import open_pipeline
from seal_ros.node.params import NodeParams

GATHER = NodeParams(engine="gather", threads=1)


def offline_labels(state, xyz: np.ndarray, intensity: np.ndarray):
    """The reference: voxelise, kernel maps, engine, softmax/argmax written out here."""
    engine = GatherEngine(state)
    batch = voxelize(torch.from_numpy(xyz), torch.from_numpy(intensity[:, None]),
                     torch.tensor([0, len(xyz)]), VoxelGrid.cylindrical())
    maps = build_kernel_maps(batch.coords, spatial_shape=batch.spatial_shape)
    logits = engine.infer(batch.features, batch.inverse, maps)
    probs = torch.softmax(logits, dim=1)
    probs[:, 0] = 0.0  # ignore_id 0 is never predicted
    return probs.argmax(1).numpy().astype(np.uint8), probs.max(1).values.numpy()


def test_pipeline_equals_offline_inference_and_keeps_nonfinite_points_aligned(h, pipeline):
    scan = h.random_scan(8000, seed=1)
    bad = np.array([5, 77, 4000])
    scan["x"][bad[0]] = np.nan
    scan["z"][bad[1]] = np.inf
    scan["intensity"][bad[2]] = np.nan  # a non-finite feature drops the point too
    result = pipeline.run(h.cloud_message(scan))
    good = np.setdiff1d(np.arange(8000), bad)
    xyz = np.stack([scan["x"], scan["y"], scan["z"]], 1)
    ref_cls, ref_prob = offline_labels(h.tiny_state(), xyz[good], scan["intensity"][good])
    assert result.num_points == 8000 and result.num_nonfinite == 3
    np.testing.assert_array_equal(result.class_id[good], ref_cls)
    np.testing.assert_allclose(result.probability[good], ref_prob, rtol=1e-6, atol=1e-7)
    assert (result.class_id[bad] == 0).all() and (result.probability[bad] == 0).all()
    assert (result.class_id[good] != 0).all()  # ignore id masked before the argmax
    assert len(np.unique(result.class_id[good])) >= 2  # a real network, not a constant
    assert list(result.timings_ms) == ["decode", "voxelize", "kernel_maps", "inference",
                                       "labels"]
    assert all(ms > 0 for ms in result.timings_ms.values())
    assert result.stamp_ns == 1_700_000_000_000_000_000 and result.frame_id == "lidar_top"


def test_big_endian_cloud_is_decoded(h, pipeline):
    scan = h.random_scan(3000, seed=2)
    little = pipeline.run(h.cloud_message(scan))
    big_msg = h.cloud_message(scan, is_bigendian=True)
    assert big_msg.is_bigendian and bytes(big_msg.data) != bytes(h.cloud_message(scan).data)
    big = pipeline.run(big_msg)
    np.testing.assert_array_equal(big.class_id, little.class_id)
    np.testing.assert_array_equal(big.probability, little.probability)


def test_padded_rows_and_points_decode(h, pipeline):
    scan = h.random_scan(3000, seed=3)
    plain = pipeline.run(h.cloud_message(scan))
    padded = pipeline.run(h.cloud_message(scan, point_step=32))  # 14 bytes of padding
    np.testing.assert_array_equal(padded.class_id, plain.class_id)


def _bad_messages(h):
    """(reason, message, words the error must contain)."""
    scan = h.random_scan(3000, seed=4)
    no_intensity = {k: v for k, v in scan.items() if k != "intensity"}
    short = h.cloud_message(scan)
    short.point_step = 14  # x, y, z fit; intensity (12..16) does not
    truncated = h.cloud_message(scan)
    truncated.data = truncated.data[:-5]
    nan = {k: (np.full_like(v, np.nan) if k in "xyz" else v) for k, v in scan.items()}
    empty = {k: v[:0] for k, v in scan.items()}
    big = h.random_scan(160_000, seed=5)
    few = {k: v[:20] for k, v in scan.items()}
    return [
        (SkipReason.MISSING_FIELD, h.cloud_message(no_intensity), ["'intensity'", "input.fields"]),
        (SkipReason.POINT_STEP, short, ["point_step 14", "'intensity'", "ends at byte 16"]),
        (SkipReason.DATA_LENGTH, truncated, ["53995 bytes", "row_step"]),
        (SkipReason.NO_FINITE_POINTS, h.cloud_message(nan), ["NaN/inf"]),
        (SkipReason.EMPTY, h.cloud_message(empty), ["no points"]),
        (SkipReason.TOO_MANY_POINTS, h.cloud_message(big),
         ["160000 points", "profile.points max 150000", "raise profile.points"]),
        (SkipReason.TOO_FEW_POINTS, h.cloud_message(few), ["20 points", "profile.points min"]),
    ]


@pytest.mark.parametrize("case", range(7), ids=["missing_field", "point_step", "data_length",
                                                 "no_finite_points", "empty", "too_many_points",
                                                 "too_few_points"])
def test_bad_input_raises_input_error_with_reason(h, pipeline, case):
    reason, msg, words = _bad_messages(h)[case]
    with pytest.raises(InputError) as info:
        pipeline.run(msg)
    assert info.value.reason == reason
    for word in words:
        assert word in str(info.value), str(info.value)
    assert "~/input/pointcloud" in str(info.value)


def test_too_many_voxels(h, tmp_path):
    package = ModelPackage.load(h.write_package(tmp_path, voxels=(10, 500, 1000)))
    with pytest.raises(InputError, match="raise profile.voxels") as info:
        open_pipeline(package, GATHER).run(h.cloud_message(h.random_scan(5000)))
    assert info.value.reason == SkipReason.TOO_MANY_VOXELS


def test_engine_class_count_must_match_package_at_start(h, tmp_path):
    names = ("ignore", "road", "car", "person", "other")
    path = h.write_package(tmp_path, state=h.tiny_state(num_classes=17), class_names=names)
    with pytest.raises(ConfigError, match="engine outputs 17 classes but the package lists 5"):
        open_pipeline(ModelPackage.load(path), GATHER)


def test_missing_or_corrupt_model_files_fail_at_start(h, tmp_path):
    package = ModelPackage.load(h.write_package(tmp_path))
    with pytest.raises(EngineError, match="no such ONNX file"):
        open_pipeline(package, NodeParams(engine="onnxruntime"))
    package.onnx.write_bytes(b"this is not a protobuf")
    with pytest.raises(EngineError, match="cannot load"):
        open_pipeline(package, NodeParams(engine="onnxruntime"))
    (tmp_path / "model.pt").write_bytes(b"garbage")
    with pytest.raises(EngineError, match="not a readable torch checkpoint"):
        open_pipeline(package, GATHER)
    with pytest.raises(ConfigError, match="no 'checkpoint'"):
        open_pipeline(dataclasses.replace(package, checkpoint=None), GATHER)


def test_warmup_cloud_fits_the_profile(pipeline):
    cloud = pipeline.warmup_cloud()
    lo, _, hi = pipeline.package.profile.points
    assert lo <= len(cloud) <= hi
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "intensity"]
    assert codec.finite_mask(codec.read_points(cloud)).all()


# ------------------------------------------------------- far-out (finite) coordinates --

FAR = {  # regime -> (point index, axis, value); mixed adds NaN points to far ones
    "1e9": [(11, "x", 1e9), (2500, "y", -1e9)],
    "1e15": [(11, "x", 1e15), (2500, "z", 1e15)],
    "1e20": [(11, "x", 1e20), (12, "y", -1e20), (2500, "z", 3e20)],
    "mixed_with_nan": [(11, "x", 1e20), (12, "y", 1e9), (13, "x", np.nan), (2500, "z", np.inf),
                       (2999, "intensity", np.nan)],
}


@pytest.mark.parametrize("regime", sorted(FAR))
def test_far_out_points_are_dropped_like_nan_and_never_change_other_labels(h, pipeline,
                                                                          regime):
    scan = h.random_scan(3000, seed=6)
    bad = np.array(sorted({i for i, _, _ in FAR[regime]}))
    good = np.setdiff1d(np.arange(3000), bad)
    hostile = {k: v.copy() for k, v in scan.items()}
    for i, axis, value in FAR[regime]:
        hostile[axis][i] = value
    # the reference: the same scan without the bad points at all
    clean = pipeline.run(h.cloud_message({k: v[good] for k, v in scan.items()}))
    result = pipeline.run(h.cloud_message(hostile))
    np.testing.assert_array_equal(result.class_id[good], clean.class_id)
    np.testing.assert_array_equal(result.probability[good], clean.probability)
    assert result.num_voxels == clean.num_voxels
    assert (result.class_id[bad] == 0).all() and (result.probability[bad] == 0).all()
    assert not result.kept[bad].any() and result.kept[good].all()
    nonfinite = sum(1 for _, _, v in FAR[regime] if not np.isfinite(v))
    assert result.num_nonfinite == nonfinite
    assert result.num_out_of_range == len(bad) - nonfinite
    assert result.num_dropped == len(bad)


def test_in_range_limit_follows_the_grid_and_counts_reach_the_node(h, package, pipeline):
    from seal_ros.core.voxelize import MAX_CELL_INDEX, cells_in_range
    from seal_ros.node.core import SegmentationNode

    rho_m = package.grid.cell_size[0]
    edge = MAX_CELL_INDEX * rho_m  # 26.2 km at 0.1 m cells
    xyz = torch.tensor([[edge * 0.999, 0.0, 0.0], [edge * 1.001, 0.0, 0.0], [1e20, 0.0, 0.0],
                        [np.nan, 0.0, 0.0], [5.0, 5.0, 1.0]])
    assert cells_in_range(xyz, package.grid).tolist() == [True, False, False, False, True]

    scan = h.random_scan(3000, seed=7)
    scan["x"][[3, 4]] = [1e15, np.nan]
    io = h.RecordingIO()
    node = SegmentationNode(io, GATHER, package=package, pipeline=pipeline)
    node.on_cloud(h.cloud_message(scan))
    node.spin_once()
    node.publish_diagnostics()
    counters = node.counters
    assert counters.processed == 1 and counters.skipped == {}
    assert counters.nonfinite_points == 1 and counters.out_of_range_points == 1
    status = next(s for s in io.on("/diagnostics")[-1].status if s.name.endswith(": input"))
    values = {kv.key: kv.value for kv in status.values}
    assert values["out_of_range_points"] == "1" and values["nonfinite_points"] == "1"


def test_a_scan_of_only_far_out_points_is_skipped_with_counts(h, pipeline):
    scan = h.random_scan(3000, seed=8)
    scan["x"][:] = 1e12
    scan["y"][:5] = np.nan
    with pytest.raises(InputError) as info:
        pipeline.run(h.cloud_message(scan))
    assert info.value.reason == SkipReason.NO_FINITE_POINTS
    assert "5 have a NaN/inf" in str(info.value) and "2995 lie out of range" in str(info.value)
