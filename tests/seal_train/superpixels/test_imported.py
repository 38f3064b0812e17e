"""Imported VFM masks: every format written from the oracle comes back as the oracle's store."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

import seal_train.synth.drive as synth_drive
from seal_ros.errors import ConfigError, DatasetError
from seal_ros.labels import LabelMap
from seal_train.__main__ import main
from seal_train.sources import CameraView
from seal_train.superpixels import (
    NO_SEGMENT,
    ImportedMasksSource,
    MaskFormat,
    OracleSource,
    SamSettings,
    SuperpixelStore,
    densify,
    make_source,
)
from seal_train.superpixels.generate import generate
from seal_train.superpixels.imported import mask_files
from seal_train.synth import SynthConfig

FORMATS = ["instance-png-uint8", "instance-png-uint16", "panoptic-rgb", "panoptic-gray",
           "sam-rle"]


@pytest.fixture(scope="module")
def drive(request: pytest.FixtureRequest):
    """One 2-frame scene of 96x64 images (12 images), and the train class of every segment id
    the renderer used (its town's ground and object tables)."""
    towns = []
    build_town = synth_drive.build_town

    def capture(*args, **kwargs):
        towns.append(build_town(*args, **kwargs))
        return towns[-1]

    synth_drive.build_town = capture
    try:
        config = SynthConfig(scenes=1, frames=2, seed=3, image_width=96, image_height=64,
                             lidar_azimuth_steps=512)
        scene = synth_drive.generate_scene(config, 0)
    finally:
        synth_drive.build_town = build_town
    town = towns[0]
    ids = np.r_[town.ground.ids, town.obj_instance]
    raw = np.r_[town.ground.labels, town.obj_label].astype(np.uint32)
    lut = np.zeros(int(ids.max()) + 1, dtype=np.int64)  # sky (id 0) -> class 0
    lut[ids] = LabelMap.builtin("nuscenes").to_train(raw, where="town")
    assert (lut[ids] > 0).all()  # every surface has a class, so class 0 can mean void
    return [f.frame for f in scene.frames], lut


def _cameras(frames):
    return [camera for frame in frames for camera in frame.cameras]


def _png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def _rle_records(ids: np.ndarray) -> list[dict]:
    from pycocotools import mask as mask_utils

    records = []
    for value in np.unique(ids[ids > 0])[::-1]:  # not in area order: the reader sorts
        rle = mask_utils.encode(np.asfortranarray((ids == value).astype(np.uint8)))
        records.append({"segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                        "area": int(mask_utils.area(rle)), "predicted_iou": 0.9})
    return records


def write_masks(root: Path, cameras, fmt: str, lut: np.ndarray) -> None:
    """The oracle's instance masks of ``cameras`` written the way a VFM would, in ``fmt``."""
    for camera in cameras:
        mask = camera.instance_mask.astype(np.int64)
        base = root / camera.image_id
        if fmt == "instance-png-uint16":
            _png(base.with_suffix(".png"), mask.astype(np.uint16))
        elif fmt == "instance-png-uint8":
            dense = densify(mask, valid=mask > 0).astype(np.int64) + 1  # order kept, 0 = sky
            assert dense[mask > 0].max() < 255
            _png(base.with_suffix(".png"), np.where(mask > 0, dense, 0).astype(np.uint8))
        elif fmt.startswith("panoptic"):
            if fmt == "panoptic-rgb":  # id = R + 256 G + 256^2 B; OpenCV writes BGR
                rgb = np.stack([mask % 256, mask // 256 % 256, mask // 65536], axis=-1)
                _png(base.with_suffix(".png"), rgb[..., ::-1].astype(np.uint8))
            else:
                _png(base.with_suffix(".png"), mask.astype(np.uint16))
            info = [{"id": int(i), "category_id": int(lut[i]), "isthing": bool(i >= 200)}
                    for i in np.unique(mask[mask > 0])]
            base.with_suffix(".json").write_text(json.dumps({"segments_info": info}))
        elif fmt == "semantic-png":
            _png(base.with_suffix(".png"), lut[mask].astype(np.uint8))
        elif fmt == "sam-rle":
            base.parent.mkdir(parents=True, exist_ok=True)
            base.with_suffix(".json").write_text(json.dumps(_rle_records(mask)))
        else:
            raise AssertionError(fmt)


def _source(root: Path, fmt: str, **kwargs) -> ImportedMasksSource:
    return ImportedMasksSource(root, MaskFormat(fmt.rsplit("-", 1)[0] if fmt.startswith(
        ("instance", "panoptic")) else fmt), **kwargs)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Same void pixels and a one-to-one map between the two maps' ids."""
    if not np.array_equal(a == NO_SEGMENT, b == NO_SEGMENT):
        return False
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(a)) == len(np.unique(b))


@pytest.fixture(scope="module")
def oracle_store(drive, tmp_path_factory):
    frames, _ = drive
    out = tmp_path_factory.mktemp("oracle") / "sp"
    assert generate(frames, OracleSource(), out).written == 12
    return SuperpixelStore(out)


@pytest.mark.parametrize("fmt", FORMATS)
def test_oracle_masks_round_trip_in_every_format(drive, oracle_store, tmp_path, fmt):
    frames, lut = drive
    write_masks(tmp_path / "masks", _cameras(frames), fmt, lut)
    report = generate(frames, _source(tmp_path / "masks", fmt), tmp_path / "sp")
    assert (report.written, report.skipped) == (12, 0)
    store = SuperpixelStore(tmp_path / "sp")
    assert store.manifest().source == "masks"
    for camera in _cameras(frames):
        got, want = store.read(camera.image_id), oracle_store.read(camera.image_id)
        if fmt == "sam-rle":  # ids are area ranks: the same partition, other numbers
            assert same_partition(got, want), camera.image_id
            assert not np.array_equal(got, want)
        else:  # ids kept in order of the source's values: exactly the oracle
            np.testing.assert_array_equal(got, want, err_msg=camera.image_id)
        classes = store.segment_classes(camera.image_id)
        if fmt.startswith("panoptic"):
            instances = np.unique(camera.instance_mask[camera.instance_mask > 0])
            np.testing.assert_array_equal(classes, lut[instances])
            np.testing.assert_array_equal(classes[got[got != NO_SEGMENT]],
                                          lut[camera.instance_mask[got != NO_SEGMENT]])
        else:
            assert classes is None


def test_semantic_masks_come_back_as_the_class_merged_oracle(drive, tmp_path):
    frames, lut = drive
    write_masks(tmp_path / "masks", _cameras(frames), "semantic-png", lut)
    generate(frames, ImportedMasksSource(tmp_path / "masks", MaskFormat.SEMANTIC_PNG),
             tmp_path / "sp")
    store = SuperpixelStore(tmp_path / "sp")
    for camera in _cameras(frames):
        semantic = lut[camera.instance_mask]
        got = store.read(camera.image_id)
        np.testing.assert_array_equal(got, densify(semantic, valid=semantic > 0))
        present = np.unique(semantic[semantic > 0])
        np.testing.assert_array_equal(store.segment_classes(camera.image_id), present)
        assert len(present) < len(np.unique(camera.instance_mask)) - 1  # classes did merge


def _camera(height=20, width=20, image_id="scene/000/CAM"):
    return CameraView("CAM", image_id, np.zeros((height, width, 3), np.uint8), np.eye(3),
                      np.eye(4), 0)


def test_semantic_components_split_each_class_into_regions(tmp_path):
    classes = np.zeros((20, 20), np.uint8)
    classes[:, :5], classes[:, 15:], classes[:, 8:12] = 3, 3, 7  # class 3 twice, class 7 once
    _png(tmp_path / "scene/000/CAM.png", classes)
    source = ImportedMasksSource(tmp_path, MaskFormat.SEMANTIC_PNG, components=True)
    segments, table = source.segment_with_classes(_camera())
    assert len(np.unique(segments[segments != NO_SEGMENT])) == 3
    assert sorted(table.tolist()) == [3, 3, 7]
    np.testing.assert_array_equal(table[segments[classes > 0]], classes[classes > 0])
    assert (segments[classes == 0] == NO_SEGMENT).all()


def test_more_than_255_segments_do_not_wrap(tmp_path):
    ids = np.arange(400, dtype=np.uint16).reshape(20, 20) + 1  # 400 instances, none void
    _png(tmp_path / "png/scene/000/CAM.png", ids)
    out = ImportedMasksSource(tmp_path / "png").segment(_camera())
    np.testing.assert_array_equal(out, ids - 1)  # dense 0..399, past uint8
    # SAM: one big mask under 300 one-pixel masks; small ones win, the big one keeps the rest
    sam = np.zeros((20, 20), np.int64)
    sam.ravel()[:300] = np.arange(300) + 2
    records = _rle_records(sam) + _rle_records(np.ones((20, 20), np.int64))
    (tmp_path / "rle/scene/000").mkdir(parents=True)
    (tmp_path / "rle/scene/000/CAM.json").write_text(json.dumps(records))
    out = ImportedMasksSource(tmp_path / "rle", MaskFormat.SAM_RLE).segment(_camera())
    assert out.max() == 300 and len(np.unique(out)) == 301 and NO_SEGMENT not in out
    assert (out.ravel()[300:] == 0).all()  # the largest mask has rank 0
    assert len(np.unique(out.ravel()[:300])) == 300


def test_void_pixels_and_uncovered_sam_pixels_are_no_segment(tmp_path):
    ids = np.full((20, 20), 9, np.uint8)
    ids[:5] = 0
    _png(tmp_path / "scene/000/CAM.png", ids)
    assert (ImportedMasksSource(tmp_path).segment(_camera())[:5] == NO_SEGMENT).all()
    everything = ImportedMasksSource(tmp_path, void_id=None).segment(_camera())
    assert NO_SEGMENT not in everything and len(np.unique(everything)) == 2
    records = _rle_records(ids.astype(np.int64))
    (tmp_path / "scene/000/CAM.json").write_text(json.dumps(records))
    out = ImportedMasksSource(tmp_path, MaskFormat.SAM_RLE).segment(_camera())
    assert (out[:5] == NO_SEGMENT).all() and (out[5:] == 0).all()


def test_missing_mis_sized_and_malformed_masks_are_errors(tmp_path):
    camera = _camera(image_id="scene-0000/000001/CAM_BACK")
    source = ImportedMasksSource(tmp_path, MaskFormat.PANOPTIC)
    png, jsn = mask_files(tmp_path, camera.image_id, MaskFormat.PANOPTIC)
    with pytest.raises(DatasetError, match=f"image scene-0000/000001/CAM_BACK .*{png}"):
        source.segment(camera)
    _png(png, np.ones((12, 16), np.uint8))
    with pytest.raises(DatasetError, match=f"expected {jsn}"):  # only the missing file named
        source.segment(camera)
    jsn.write_text(json.dumps([{"id": 2, "category_id": 5}]))
    with pytest.raises(DatasetError, match=r"masks are \(12, 16\) \(H, W\), the image is "
                                           r"\(20, 20\)"):
        source.segment(camera)
    _png(png, np.ones((20, 20), np.uint8))
    with pytest.raises(DatasetError, match=r"segment ids \[1\] that segments_info"):
        source.segment(camera)
    _png(png, np.ones((20, 20, 3), np.uint16))
    with pytest.raises(DatasetError, match="expected an RGB or single-channel"):
        source.segment(camera)
    records = _rle_records(np.ones((10, 20), np.int64))
    jsn.write_text(json.dumps(records))
    with pytest.raises(DatasetError, match=r"record 0 is \(10, 20\) \(H, W\), the image is "
                                           r"\(20, 20\)"):
        ImportedMasksSource(tmp_path, MaskFormat.SAM_RLE).segment(camera)


def test_skip_missing_counts_skips_and_a_later_run_fills_them_in(drive, oracle_store, tmp_path):
    frames, lut = drive
    cameras = _cameras(frames)
    write_masks(tmp_path / "masks", cameras[2:], "instance-png-uint16", lut)  # first 2 missing
    with pytest.raises(DatasetError, match=f"image {cameras[0].image_id} .*--skip-missing"):
        generate(frames, ImportedMasksSource(tmp_path / "masks"), tmp_path / "sp")
    skipping = ImportedMasksSource(tmp_path / "masks", skip_missing=True)
    report = generate(frames, skipping, tmp_path / "sp", workers=2)
    assert (report.written, report.skipped, report.already_done) == (10, 2, 0)
    assert "2 skipped by the source" in report.summary()
    store = SuperpixelStore(tmp_path / "sp")
    assert not store.has(cameras[0].image_id) and store.has(cameras[2].image_id)
    write_masks(tmp_path / "masks", cameras[:2], "instance-png-uint16", lut)
    again = generate(frames, ImportedMasksSource(tmp_path / "masks"), tmp_path / "sp")
    assert (again.written, again.skipped, again.already_done) == (2, 0, 10)
    np.testing.assert_array_equal(store.read(cameras[0].image_id),
                                  oracle_store.read(cameras[0].image_id))


def test_store_class_table_round_trip_and_checks(tmp_path):
    store = SuperpixelStore(tmp_path)
    segments = np.array([[0, 1], [2, NO_SEGMENT]], np.uint16)
    store.write("a/b", segments, np.array([7, -1, 300]))
    assert (tmp_path / "a/b.classes.npy").is_file()
    classes = store.segment_classes("a/b")
    assert classes.dtype == np.int32 and classes.tolist() == [7, -1, 300]
    with pytest.raises(DatasetError, match=r"expected \(3,\) integers"):
        store.write("a/b", segments, np.array([1, 2]))
    store.write("a/b", segments)  # a classless rewrite drops the stale table
    assert store.segment_classes("a/b") is None and store.has("a/b")


def test_make_source_and_cli_name_the_missing_flag(tmp_path, capsys):
    with pytest.raises(ConfigError, match="--masks DIR"):
        make_source("masks")
    with pytest.raises(ConfigError, match="'nope'.*masks, oracle, oracle-slic, sam, sam-lidar"):
        make_source("nope")
    with pytest.raises(ConfigError, match="not a folder"):
        ImportedMasksSource(tmp_path / "absent")
    with pytest.raises(ConfigError, match="--components splits semantic-png"):
        ImportedMasksSource(tmp_path, MaskFormat.PANOPTIC, components=True)
    data = str(tmp_path)  # never opened: the flags fail first
    for argv, message in [(["--source", "masks"], "--source masks needs --masks DIR"),
                          (["--masks", data], "--masks only apply to --source masks"),
                          (["--source", "oracle", "--slic-segments", "9"], "--slic-segments"),
                          (["--source", "masks", "--masks", data, "--void-id", "x"], "--void-id"),
                          (["--source", "masks", "--masks", data, "--sam-model", "vit_b"],
                           "--sam-model only apply to --source sam / sam-lidar")]:
        assert main(["superpixels", "--data", data, *argv]) == 1
        assert message in capsys.readouterr().err


def test_sam_sources_go_to_the_sam_factory(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("seal_train.superpixels.sam")
    fake.make_sam_source = lambda *args: calls.append(args) or OracleSource()  # type: ignore
    monkeypatch.setitem(sys.modules, "seal_train.superpixels.sam", fake)
    settings = SamSettings(tmp_path / "w.pth", "vit_b", {"points_per_side": 16})
    assert make_source("sam-lidar", sam=settings) == OracleSource()
    assert calls == [("sam-lidar", tmp_path / "w.pth", "vit_b", {"points_per_side": 16})]
    with pytest.raises(ConfigError, match="SAM model 'vit_x'"):
        make_source("sam", sam=SamSettings(model="vit_x"))

