"""Fixtures shared by the training tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A 1 x 4-frame synthetic drive with SLIC superpixels: a pretraining run's ``data.cache_dir``
    (``data.synthetic_scenes=1 data.synthetic_frames=4``)."""
    from seal_train.engine.synthetic import ensure_superpixels, synthetic_drive
    from seal_train.sources.detect import open_source

    cache = tmp_path_factory.mktemp("cache")
    path = synthetic_drive(1, 4, 0, cache)
    ensure_superpixels(open_source(path), path.parent / "superpixels-slic", "slic")
    return cache
