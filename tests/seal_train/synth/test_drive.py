"""The synthetic drive: determinism, record contract, classes, motion, LiDAR/camera agreement."""

from __future__ import annotations

import time

import numpy as np
import pytest

from seal_ros.core.transforms import invert_rigid
from seal_ros.errors import ConfigError
from seal_train.sources.frame import project
from seal_train.synth import (
    CAMERA_NAMES,
    POINT_CHANNELS,
    SynthConfig,
    SynthScene,
    generate_drive,
    generate_scene,
)

SMALL = dict(scenes=1, frames=2, image_width=128, image_height=72, lidar_azimuth_steps=512)


@pytest.fixture(scope="session")
def scene() -> SynthScene:
    """Default sensors (384x216 images, 32 x 1088 LiDAR), 3 frames; prints the per-frame time."""
    config = SynthConfig(scenes=1, frames=3)
    start = time.perf_counter()
    result = generate_scene(config, 0)
    elapsed = time.perf_counter() - start
    print(f"\nsynthetic drive: {elapsed / config.frames:.3f} s per frame "
          f"(6 x {config.image_width}x{config.image_height} images + LiDAR, incl. town build)")
    return result


@pytest.fixture(scope="session")
def small() -> SynthScene:
    return generate_scene(SynthConfig(**SMALL), 0)


def _arrays(scene: SynthScene) -> list[np.ndarray]:
    out = []
    for sf in scene.frames:
        f = sf.frame
        out += [f.points, f.labels, f.instances, f.T_world_ego, *sf.T_world_ego_cam]
        out += [a for cam in f.cameras for a in (cam.image, cam.instance_mask, cam.T_cam_lidar)]
        out += [np.r_[b.center, b.size_wlh, b.yaw, b.velocity] for b in sf.boxes]
    return out


def test_same_seed_gives_identical_arrays(small: SynthScene) -> None:
    again = generate_scene(SynthConfig(**SMALL), 0)
    a, b = _arrays(small), _arrays(again)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(x, y)


def test_other_seed_or_scene_differs(small: SynthScene) -> None:
    other_seed = generate_scene(SynthConfig(**{**SMALL, "seed": 1}), 0)
    assert other_seed.frames[0].frame.points.shape != small.frames[0].frame.points.shape or \
        not np.array_equal(other_seed.frames[0].frame.points, small.frames[0].frame.points)
    assert not np.array_equal(other_seed.frames[0].frame.cameras[0].image,
                              small.frames[0].frame.cameras[0].image)
    scenes = list(generate_drive(SynthConfig(**{**SMALL, "scenes": 2, "frames": 1})))
    assert [s.name for s in scenes] == ["scene-0000", "scene-0001"]
    assert not np.array_equal(scenes[0].frames[0].frame.cameras[0].image,
                              scenes[1].frames[0].frame.cameras[0].image)


def test_record_shapes_dtypes_and_ids(scene: SynthScene) -> None:
    assert scene.name == "scene-0000" and len(scene.frames) == 3
    stamps = []
    for k, sf in enumerate(scene.frames):
        f = sf.frame
        assert sf.index == k and f.frame_id == f"scene-0000/{k:06d}" and f.sequence == "scene-0000"
        assert f.channels == POINT_CHANNELS
        assert f.points.dtype == np.float32 and f.points.shape[1] == 5
        assert 25_000 < len(f.points) < 32 * 1088
        assert f.labels.dtype == np.uint32 and f.instances.dtype == np.uint32
        assert f.instances.min() >= 1
        intensity, ring = f.channel("intensity"), f.channel("ring")
        assert intensity.min() >= 0 and intensity.max() <= 255
        assert np.array_equal(ring, np.round(ring)) and ring.min() == 0 and ring.max() == 31
        r = np.linalg.norm(f.xyz, axis=1)
        assert r.min() >= 1.0 and r.max() <= 70.1
        assert f.label_map is not None and f.label_map.name == "nuscenes"
        assert (f.train_labels() > 0).all()  # every raw id is a real training class
        assert [c.name for c in f.cameras] == list(CAMERA_NAMES)
        assert f.cameras[0].stamp_ns == f.stamp_ns
        for cam, T_ego_cam, T_world_ego_cam in zip(f.cameras, sf.T_ego_cam, sf.T_world_ego_cam,
                                                   strict=True):
            assert cam.image_id == f"{f.frame_id}/{cam.name}"
            assert cam.image.shape == (216, 384, 3) and cam.instance_mask.dtype == np.uint16
            assert abs(cam.stamp_ns - f.stamp_ns) <= 40_000_000
            expected = (invert_rigid(T_ego_cam) @ invert_rigid(T_world_ego_cam) @ f.T_world_ego
                        @ f.T_ego_lidar)
            np.testing.assert_allclose(cam.T_cam_lidar, expected, atol=1e-12)
        stamps.append(f.stamp_ns)
    assert np.diff(stamps).tolist() == [500_000_000, 500_000_000]
    assert stamps[0] == 1_700_000_000_000_000_000


def test_lidar_frame_is_nuscenes_lidar_top(scene: SynthScene) -> None:
    T = scene.frames[0].frame.T_ego_lidar
    np.testing.assert_allclose(T[:3, :3] @ [0, 1, 0], [1, 0, 0], atol=1e-12)  # y forward
    np.testing.assert_allclose(T[:3, :3] @ [1, 0, 0], [0, -1, 0], atol=1e-12)  # x right
    assert T[2, 3] == pytest.approx(1.84)
    f = scene.frames[0].frame
    ego = f.xyz @ T[:3, :3].T + T[:3, 3]  # no returns from the ego car's own body
    on_ego = (ego[:, 0] > -1.1) & (ego[:, 0] < 3.9) & (np.abs(ego[:, 1]) < 1.0) & (ego[:, 2] > 0.1)
    assert not on_ego.any()


def test_class_coverage(scene: SynthScene) -> None:
    present = set(np.unique(np.concatenate([sf.frame.labels for sf in scene.frames])).tolist())
    assert {24, 26, 27, 28, 30, 17, 2} <= present  # road, sidewalk, terrain, manmade, veg, car, ped
    assert len(present) >= 10, present
    boxed = {b.raw_label for sf in scene.frames for b in sf.boxes}
    assert {2, 9, 12, 16, 17, 18, 23} <= boxed


def test_segments_are_stable_and_masks_share_the_id_space(scene: SynthScene) -> None:
    f0, f2 = scene.frames[0], scene.frames[2]
    ids0 = {b.instance: b.raw_label for b in f0.boxes}
    ids2 = {b.instance: b.raw_label for b in f2.boxes}
    common = ids0.keys() & ids2.keys()
    assert len(common) > 10 and all(ids0[i] == ids2[i] for i in common)
    for sf in scene.frames:
        f = sf.frame
        point_label = dict(zip(f.instances.tolist(), f.labels.tolist(), strict=True))
        for box in sf.boxes:  # a box's points carry its class
            assert point_label.get(box.instance, box.raw_label) == box.raw_label
        mask_ids = np.unique(np.concatenate([c.instance_mask.ravel() for c in f.cameras]))
        assert 0 in mask_ids and 1 in mask_ids  # sky and road
        assert len(np.intersect1d(mask_ids, np.unique(f.instances))) > 30


def test_moving_objects_move(scene: SynthScene) -> None:
    first, last = scene.frames[0], scene.frames[2]
    before = {b.instance: b for b in first.boxes}
    moved = 0
    for box in last.boxes:
        if box.instance in before and np.linalg.norm(box.velocity) > 0.5:
            shift = box.center - before[box.instance].center
            np.testing.assert_allclose(shift, box.velocity * 1.0, atol=1e-9)
            moved += 1
    assert moved >= 5
    assert any(b.raw_label == 2 and np.linalg.norm(b.velocity) > 0.5 for b in last.boxes)
    speed = np.linalg.norm(last.frame.T_world_ego[:3, 3] - first.frame.T_world_ego[:3, 3]) / 1.0
    assert 5.0 < speed < 10.0
    # the points of a moving vehicle move with it in the world frame
    f0, f2 = first.frame, last.frame
    for box in last.boxes:
        if box.instance not in before or box.raw_label != 17 or abs(box.velocity[0]) < 0.5:
            continue
        p0 = f0.xyz[f0.instances == box.instance]
        p2 = f2.xyz[f2.instances == box.instance]
        if len(p0) < 30 or len(p2) < 30:
            continue
        w0 = p0 @ f0.T_world_lidar[:3, :3].T + f0.T_world_lidar[:3, 3]
        w2 = p2 @ f2.T_world_lidar[:3, :3].T + f2.T_world_lidar[:3, 3]
        assert np.sign(np.median(w2[:, 0]) - np.median(w0[:, 0])) == np.sign(box.velocity[0])
        break
    else:
        pytest.fail("no moving car with LiDAR points in both frames")


def test_projected_points_land_on_their_own_segment(scene: SynthScene) -> None:
    """The oracle check: a point projected with Frame's own projection lands on its own segment."""
    hits, total = 0, 0
    for sf in scene.frames:
        f = sf.frame
        pairs = project(f)
        masks = np.stack([c.instance_mask for c in f.cameras])
        seen = masks[pairs.camera_index, pairs.row, pairs.col]
        hits += int((seen == f.instances[pairs.point_index]).sum())
        total += len(pairs)
    share = hits / total
    print(f"\nprojection check: {share:.4f} of {total} point-pixel pairs on their own segment")
    assert total > 0.9 * sum(len(sf.frame.points) for sf in scene.frames)
    assert share >= 0.98


def test_camera_offsets_can_be_switched_off() -> None:
    scene = generate_scene(SynthConfig(**{**SMALL, "frames": 1, "camera_offsets": False}), 0)
    f = scene.frames[0].frame
    assert {c.stamp_ns for c in f.cameras} == {f.stamp_ns}
    for T in scene.frames[0].T_world_ego_cam:
        np.testing.assert_array_equal(T, f.T_world_ego)


@pytest.mark.parametrize("bad", [dict(frames=0), dict(lidar_azimuth_steps=1000),
                                 dict(camera_offsets_ms=(5.0, 0, 0, 0, 0, 0)),
                                 dict(ego_speed_mps=(9.0, 6.0)), dict(image_width=4)])
def test_invalid_config_is_a_config_error(bad: dict) -> None:
    with pytest.raises(ConfigError, match="invalid SynthConfig"):
        SynthConfig(**bad)
