"""The viewer in a real browser: headless Chromium (Debian's, driven by Playwright) loads the page
from 127.0.0.1, the scan is drawn, and a click on a point turns the colouring into that point's
similarity map. Every request the page makes is checked to stay on the viewer's own address."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from seal_train.sources.detect import open_source
from seal_train.viewer import ColorBy, Viewer
from seal_train.visualize import viridis_colors
from seal_train.visualize.features import load_feature_models

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
YELLOW = tuple(int(c) for c in viridis_colors(np.array([1.0]), 0.0, 1.0)[0])


def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _scene_pixels(path: Path) -> np.ndarray:
    """The screenshot's left part (the 3D canvas, not the control panel), RGB."""
    image = cv2.imread(str(path))[..., ::-1]
    return image[200:, : image.shape[1] * 6 // 10]


@pytest.fixture()
def viewer(drive, checkpoint):
    frames = open_source(drive)
    view = Viewer(frames, backbone=load_feature_models([str(checkpoint)])[0], port=0)
    yield view
    view.stop()


@pytest.mark.timeout(240)
def test_page_draws_the_scan_and_a_click_shows_similarity(viewer, tmp_path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (install.sh installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    assert viewer.url.startswith("http://127.0.0.1:")
    assert viewer.color_by is ColorBy.LABEL and viewer.query is None
    foreign: list[str] = []

    def only_local(route) -> None:
        if route.request.url.startswith(viewer.url):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    with playwright.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1000, "height": 700})
        try:
            context.route("**/*", only_local)
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(viewer.url)
            page.wait_for_selector("canvas", timeout=60_000)
            assert _wait(lambda: len(viewer.server.get_clients()) == 1, 30)
            time.sleep(3)  # the scan's first draw
            page.screenshot(path=str(tmp_path / "label.png"))
            before = _scene_pixels(tmp_path / "label.png")
            # not blank: many coloured (not white, not grey) pixels of the label palette
            coloured = (before.max(axis=2).astype(int) - before.min(axis=2)) > 40
            assert coloured.mean() > 0.01
            # a click somewhere on the ground: the first that hits a point makes it the query
            for x, y in [(520, 470), (600, 620), (450, 560), (300, 600), (520, 400)]:
                page.mouse.click(x, y)
                if _wait(lambda: viewer.query is not None, 3):
                    break
            assert viewer.query is not None, "no click hit a point of the scan"
            query = viewer.query
            # the click's handler thread computes the features, then recolours
            assert _wait(lambda: tuple(viewer.colors[query]) == YELLOW, 30)  # most similar
            assert viewer.color_by is ColorBy.SIMILARITY
            assert _wait(lambda: page.get_by_text(f"query point {query}").count() > 0, 10)
            time.sleep(2)
            page.screenshot(path=str(tmp_path / "similarity.png"))
        finally:
            context.close()
    after = _scene_pixels(tmp_path / "similarity.png")
    changed = np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 40
    assert changed.mean() > 0.005  # the colouring on the canvas changed
    assert foreign == []  # the page asked for nothing beyond the viewer
