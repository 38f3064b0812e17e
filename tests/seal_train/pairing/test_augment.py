"""Every augmentation keeps pairs pointing at the same point and the same image content."""

from __future__ import annotations

import numpy as np

from seal_train.pairing.augment import (
    PairedView,
    drop_cuboid,
    hflip_images,
    resized_crop,
    rotate_flip_points,
)


def _view(seed=0, I=2, H=90, W=160, N=5000):
    rng = np.random.default_rng(seed)
    points = rng.uniform(-20, 20, (N, 4)).astype(np.float32)
    # Superpixels are 10x10 blocks; the image colour encodes the block so content can be checked.
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    block = ((rows // 10) * 16 + cols // 10).astype(np.uint16)
    superpixels = np.stack([block] * I)
    images = np.stack([np.stack([block % 256, block // 256, np.full_like(block, i)], -1)
                       for i in range(I)]).astype(np.uint8)
    P = 4000
    # Each point is paired at most once, so a point index identifies its pair.
    return PairedView(points, images, superpixels, rng.permutation(N)[:P], rng.integers(0, I, P),
                      rng.integers(0, H, P), rng.integers(0, W, P))


def _pair_blocks(view):
    return view.superpixels[view.pair_image, view.pair_row, view.pair_col]


def test_resized_crop_keeps_pairs_on_the_same_superpixel():
    view = _view()
    original = dict(zip(view.pair_point, _pair_blocks(view), strict=True))
    out = resized_crop(view, np.random.default_rng(1), (64, 112))
    assert out.images.shape == (2, 64, 112, 3) and out.superpixels.shape == (2, 64, 112)
    assert 0 < len(out.pair_point) < 4000
    same = np.array([original[p] == b
                     for p, b in zip(out.pair_point, _pair_blocks(out), strict=True)])
    # Resizing samples one source pixel per output pixel; a pair next to a 10x10 block border
    # may land on the neighbour block, nothing else may change.
    assert same.mean() > 0.85
    blocks = np.array([original[p] for p in out.pair_point])
    moved = _pair_blocks(out)[~same].astype(int) - blocks[~same]
    assert set(np.unique(moved).tolist()) <= {-17, -16, -15, -1, 1, 15, 16, 17}


def test_hflip_mirrors_pairs_with_images():
    view = _view()
    before = _pair_blocks(view).copy()
    out = hflip_images(view, np.random.default_rng(0), p=1.0)
    np.testing.assert_array_equal(_pair_blocks(out), before)
    np.testing.assert_array_equal(out.images[:, :, 0], _view().images[:, :, -1])


def test_point_transforms_keep_indices_and_norms():
    view = _view()
    xyz = view.points[:, :3].copy()
    out = rotate_flip_points(view, np.random.default_rng(3))
    np.testing.assert_allclose(np.linalg.norm(out.points[:, :3], axis=1),
                               np.linalg.norm(xyz, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(out.points[:, 3], _view().points[:, 3])


def test_cuboid_drop_reindexes_pairs():
    view = _view()
    ref = view.points.copy()
    paired = ref[view.pair_point].copy()
    out = drop_cuboid(view, np.random.default_rng(5), max_extent=0.5, min_pairs_per_image=10)
    assert len(out.points) < len(ref)
    # Surviving pairs still point at the same point values.
    survivors = {tuple(row) for row in out.points[out.pair_point]}
    assert survivors <= {tuple(row) for row in paired}
