"""Superpixel store round trip, SLIC defaults, resumability and parallel == serial."""

from __future__ import annotations

import numpy as np
import pytest

from seal_ros.errors import ConfigError, DatasetError
from seal_train.sources import CameraView, Frame
from seal_train.superpixels import (
    NO_SEGMENT,
    Manifest,
    OracleSlicSource,
    OracleSource,
    SlicSource,
    SuperpixelStore,
    densify,
    make_source,
)
from seal_train.superpixels.generate import generate, segment_counts

K = np.array([[200.0, 0, 200], [0, 200, 112], [0, 0, 1]])


def _image(rng, height=225, width=400):
    """Blocky colour image with noise: SLIC has edges to follow."""
    blocks = rng.integers(0, 255, size=(height // 25 + 1, width // 25 + 1, 3))
    image = np.kron(blocks, np.ones((25, 25, 1)))[:height, :width]
    return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


def _frames(n=3, cameras=2, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        cams = tuple(
            CameraView(name=f"CAM_{c}", image_id=f"scene/{i:03d}/CAM_{c}", image=_image(rng),
                       K=K, T_cam_lidar=np.eye(4), stamp_ns=i,
                       instance_mask=rng.integers(0, 4, (225, 400)).astype(np.uint16))
            for c in range(cameras))
        frames.append(Frame(f"f{i}", "scene", np.zeros((1, 3), np.float32), ("x", "y", "z"), i,
                            np.eye(4), np.eye(4), cams))
    return frames


def test_densify_makes_dense_ids_and_marks_invalid():
    seg = np.array([[7, 7, 300], [-1, 300, 12]])
    out = densify(seg)
    assert out.dtype == np.uint16
    assert out.tolist() == [[0, 0, 2], [NO_SEGMENT, 2, 1]]


def test_store_round_trip_and_manifest_guard(tmp_path):
    store = SuperpixelStore(tmp_path / "sp")
    store.open_for(Manifest("slic", {"n_segments": 150}))
    seg = np.arange(12, dtype=np.uint16).reshape(3, 4)
    seg[0, 0] = NO_SEGMENT
    path = store.write("00/image_2/000001", seg)
    assert path == tmp_path / "sp" / "00" / "image_2" / "000001.png"
    np.testing.assert_array_equal(store.read("00/image_2/000001", shape=(3, 4)), seg)
    with pytest.raises(DatasetError, match="superpixels are \\(3, 4\\), image is \\(5, 5\\)"):
        store.read("00/image_2/000001", shape=(5, 5))
    with pytest.raises(DatasetError, match="holds superpixels from slic"):
        store.open_for(Manifest("oracle", {}))
    with pytest.raises(DatasetError, match="missing or unreadable"):
        store.read("nope")


def test_slic_defaults_are_slidr_and_resume_skips_done(tmp_path):
    frames = _frames()
    source = SlicSource()
    assert source.parameters() == {"n_segments": 150, "compactness": 6.0, "sigma": 3.0}
    report = generate(frames, source, tmp_path / "sp")
    assert (report.images, report.written, report.already_done) == (6, 6, 0)
    assert 100 <= report.mean_segments <= 200
    store = SuperpixelStore(tmp_path / "sp")
    removed = frames[1].cameras[0].image_id
    store.path(removed).unlink()
    again = generate(frames, source, tmp_path / "sp")
    assert (again.written, again.already_done) == (1, 5)
    assert "segments per written image" in again.summary()
    reused = generate(frames, source, tmp_path / "sp")  # nothing new: no average of nothing
    assert (reused.written, reused.already_done) == (0, 6)
    assert "segments" not in reused.summary() and "6 already done" in reused.summary()
    ids = [c.image_id for f in frames for c in f.cameras]
    assert (segment_counts(store, ids) > 100).all()


def test_parallel_and_sharded_runs_equal_serial(tmp_path):
    frames = _frames(n=4, cameras=1, seed=1)
    serial = generate(frames, SlicSource(), tmp_path / "a")
    parallel = generate(frames, SlicSource(), tmp_path / "b", workers=2)
    assert serial.written == parallel.written == 4
    shard0 = generate(frames, SlicSource(), tmp_path / "c", shard=(0, 2))
    shard1 = generate(frames, SlicSource(), tmp_path / "c", shard=(1, 2))
    assert (shard0.frames, shard1.frames) == (2, 2)
    for frame in frames:
        image_id = frame.cameras[0].image_id
        ref = SuperpixelStore(tmp_path / "a").read(image_id)
        np.testing.assert_array_equal(SuperpixelStore(tmp_path / "b").read(image_id), ref)
        np.testing.assert_array_equal(SuperpixelStore(tmp_path / "c").read(image_id), ref)


def test_oracle_uses_instance_masks_with_sky_as_no_segment():
    camera = _frames(n=1, cameras=1)[0].cameras[0]
    out = OracleSource().segment(camera)
    np.testing.assert_array_equal(out == NO_SEGMENT, camera.instance_mask == 0)
    assert sorted(np.unique(out[out != NO_SEGMENT]).tolist()) == [0, 1, 2]


def test_oracle_cut_by_slic_is_the_product_of_both_partitions():
    rng = np.random.default_rng(3)
    mask = np.zeros((225, 400), np.uint16)
    mask[60:, :130], mask[60:, 130:310], mask[60:, 310:] = 5, 9, 2  # sky above row 60
    camera = CameraView(name="CAM", image_id="s/0/CAM", image=_image(rng), K=K,
                        T_cam_lidar=np.eye(4), stamp_ns=0, instance_mask=mask)
    slic = SlicSource(n_segments=40)
    out = OracleSlicSource(slic).segment(camera)
    np.testing.assert_array_equal(out == NO_SEGMENT, mask == 0)
    valid = mask > 0
    ids, superpixels, instances = out[valid], slic.segment(camera)[valid], mask[valid]
    pairs = np.unique(np.stack([superpixels, instances]), axis=1)
    # one id per (superpixel, instance) pair: nothing merged across either boundary, nothing split
    assert np.unique(ids).tolist() == list(range(pairs.shape[1]))
    for segment in np.unique(ids):
        inside = ids == segment
        assert len(np.unique(superpixels[inside])) == len(np.unique(instances[inside])) == 1
    assert pairs.shape[1] > len(np.unique(superpixels)) > 3
    assert OracleSlicSource(slic).parameters() == {"slic": slic.parameters()}


def test_make_source_passes_slic_parameters_and_rejects_unknown_names():
    slic = SlicSource(n_segments=40)
    assert make_source("slic", slic) is slic
    assert make_source("oracle-slic", slic) == OracleSlicSource(slic)
    assert make_source("oracle") == OracleSource()
    assert make_source("slic") == SlicSource()
    with pytest.raises(ConfigError, match="'nope'.*oracle, oracle-slic, sam, sam-lidar, slic"):
        make_source("nope")
