"""The interactive viewer: step through a dataset's frames in the browser (viser), colour the
scan by label, prediction, error, superpoint, intensity or similarity, and click a point to see
its similarity map live; the chosen camera image shows the projected points in the same colours.

The server binds 127.0.0.1 by default (a viewer is a local tool; pass a host to share it) and
serves viser's bundled client, so nothing is downloaded. Colours are the static pictures' own
(:mod:`seal_train.visualize`), computed vectorised per frame; features are computed once per
frame, so a click costs one matrix-vector product.
"""

from __future__ import annotations

import logging
import threading
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from seal_ros.errors import ConfigError
from seal_ros.labels import IGNORE_CLASS, palette_for
from seal_train.superpixels.preview import superpoint_colors
from seal_train.visualize import (
    depth_colors,
    error_colors,
    label_colors,
    points_over_image,
    similarity_colors,
)

if TYPE_CHECKING:
    import torch

    from seal_train.engine.scoring import ScoredModel
    from seal_train.sources.detect import FrameSource
    from seal_train.sources.frame import Frame
    from seal_train.superpixels.store import SuperpixelStore
    from seal_train.visualize.features import FeatureModel

__all__ = ["ColorBy", "Viewer"]

log = logging.getLogger(__name__)
IMAGE_WIDTH = 640  # camera image width sent to the browser (pixels)


class ColorBy(StrEnum):
    """What the points' colours show."""

    LABEL = "label"
    PREDICTION = "prediction"
    ERROR = "error"
    SIMILARITY = "similarity"
    SUPERPOINT = "superpoint"
    INTENSITY = "intensity"
    DEPTH = "depth"


def nearest_to_ray(xyz: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> int | None:
    """Index of the point with the smallest angle to the ray (in front of it), or None."""
    direction = direction / np.linalg.norm(direction)
    offset = xyz.astype(np.float64) - origin  # (N, 3)
    along = offset @ direction  # (N,) distance along the ray
    across = np.linalg.norm(offset - along[:, None] * direction, axis=1)
    angle = np.where(along > 0, across / np.maximum(along, 1e-6), np.inf)
    best = int(np.argmin(angle))
    return best if np.isfinite(angle[best]) and angle[best] < 0.05 else None


class Viewer:
    """A viser server showing ``frames`` with optional model, backbone and superpixels."""

    def __init__(self, frames: FrameSource, model: ScoredModel | None = None,
                 backbone: FeatureModel | None = None, store: SuperpixelStore | None = None,
                 host: str = "127.0.0.1", port: int = 8080, point_size: float = 0.08) -> None:
        import viser

        if len(frames) == 0:
            raise ConfigError("viewer: the dataset has no frames")
        self.frames, self.model, self.backbone, self.store = frames, model, backbone, store
        self.point_size = point_size
        self.lock = threading.RLock()
        self.modes = self._modes()
        self.color_by = self.modes[0]
        self.query: int | None = None
        self.index = -1
        self.frame: Frame | None = None
        self.colors = np.zeros((0, 3), np.uint8)
        self._features: torch.Tensor | None = None
        self._prediction: np.ndarray | None = None
        self.server = viser.ViserServer(host=host, port=port, verbose=False)
        self.host, self.port = host, self.server.get_port()
        self.server.scene.set_up_direction("+z")
        gui = self.server.gui
        self.slider = gui.add_slider("frame", min=0, max=max(len(frames) - 1, 1), step=1,
                                     initial_value=0, disabled=len(frames) == 1)
        self.dropdown = gui.add_dropdown("colour by", [m.value for m in self.modes],
                                         initial_value=self.color_by.value)
        self.status = gui.add_markdown("")
        self.camera = gui.add_dropdown("camera", ["none"])
        self.image = gui.add_image(np.zeros((9, 16, 3), np.uint8), label="camera")
        self.cloud: Any = None
        self.slider.on_update(lambda _: self.show_frame(int(self.slider.value)))
        self.dropdown.on_update(lambda _: self.set_color_by(ColorBy(self.dropdown.value)))
        self.camera.on_update(lambda _: self._draw_image())
        self.server.scene.on_click()(self._on_click)
        self.server.on_client_connect(self._on_connect)
        self.show_frame(0)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _modes(self) -> list[ColorBy]:
        first = self.frames[0]
        modes = [ColorBy.LABEL] if first.labels is not None else []
        if self.model is not None:
            modes += [ColorBy.PREDICTION] + ([ColorBy.ERROR] if first.labels is not None else [])
        if self.backbone is not None:
            modes.append(ColorBy.SIMILARITY)
        if self.store is not None:
            modes.append(ColorBy.SUPERPOINT)
        if "intensity" in first.channels:
            modes.append(ColorBy.INTENSITY)
        return modes + [ColorBy.DEPTH]

    def _on_connect(self, client: Any) -> None:
        client.camera.position = (-25.0, 0.0, 20.0)
        client.camera.look_at = (10.0, 0.0, 0.0)
        client.camera.up_direction = (0.0, 0.0, 1.0)

    def _on_click(self, event: Any) -> None:
        if self.frame is None:
            return
        hit = nearest_to_ray(self.frame.xyz, np.asarray(event.ray_origin),
                             np.asarray(event.ray_direction))
        if hit is not None:
            self.select_point(hit)

    def select_point(self, index: int) -> None:
        """Make point ``index`` the query and colour by its similarity (when a backbone is
        loaded; otherwise the point is only reported)."""
        with self.lock:
            self.query = index
            if self.backbone is not None:
                self.set_color_by(ColorBy.SIMILARITY)
            else:
                self._redraw()

    def show_frame(self, index: int) -> None:
        with self.lock:
            if index == self.index:
                return
            self.index, self.frame = index, self.frames[index]
            self._features = self._prediction = None
            self.query = None
            names = [cam.name for cam in self.frame.cameras] or ["none"]
            self.camera.options = names
            if self.camera.value not in names:
                self.camera.value = names[0]  # type: ignore[misc]  # viser has the setter
            xyz = self.frame.xyz
            self.cloud = self.server.scene.add_point_cloud(
                "/scan", xyz, np.zeros_like(xyz, dtype=np.uint8), point_size=self.point_size,
                point_shading="flat")
            self._redraw()

    def set_color_by(self, mode: ColorBy) -> None:
        with self.lock:
            if mode not in self.modes:
                raise ConfigError(f"viewer: cannot colour by {mode.value} (have "
                                  f"{', '.join(m.value for m in self.modes)})")
            self.color_by = mode
            if self.dropdown.value != mode.value:
                self.dropdown.value = mode.value  # type: ignore[misc]  # viser has the setter
            self._redraw()

    def _predicted(self, frame: Frame) -> np.ndarray:
        from seal_train.visualize.features import predict

        if self._prediction is None and self.model is not None:
            self._prediction = predict(self.model, frame)
        return self._prediction if self._prediction is not None else np.zeros(0, np.int64)

    def _compute_colors(self, frame: Frame) -> tuple[np.ndarray, str]:
        mode = self.color_by
        n = len(frame.points)
        if mode is ColorBy.LABEL:
            assert frame.label_map is not None  # LABEL is offered only for labelled frames
            return label_colors(frame.train_labels(), frame.label_map.palette), ""
        if mode in (ColorBy.PREDICTION, ColorBy.ERROR):
            prediction = self._predicted(frame)
            if mode is ColorBy.ERROR:
                truth = frame.train_labels()
                wrong = float((prediction != truth)[truth != IGNORE_CLASS].mean())
                return error_colors(prediction, truth), f"{100 * wrong:.1f} % wrong"
            palette = (frame.label_map.palette if frame.label_map is not None
                       else palette_for(self.model.class_names if self.model else ()))
            return label_colors(prediction, palette), ""
        if mode is ColorBy.SIMILARITY:
            from seal_train.visualize.features import similarity

            if self.query is None:
                return np.full((n, 3), 128, np.uint8), "click a point to see its similarity"
            if self._features is None and self.backbone is not None:
                self._features = self.backbone.point_features(frame)
            assert self._features is not None  # SIMILARITY is offered only with a backbone
            return similarity_colors(similarity(self._features, self.query)), ""
        if mode is ColorBy.SUPERPOINT:
            from seal_train.superpixels.superpoints import superpoints

            assert self.store is not None  # offered only with a store
            maps = [self.store.read(cam.image_id, shape=(cam.height, cam.width))
                    if self.store.has(cam.image_id) else None for cam in frame.cameras]
            return superpoint_colors(superpoints(frame, maps)), ""
        if mode is ColorBy.INTENSITY:
            value = frame.channel("intensity").astype(np.float64)
            top = max(float(np.percentile(value, 99)), 1e-6)
            return depth_colors(top - np.clip(value, 0, top), top), ""
        return depth_colors(np.linalg.norm(frame.xyz, axis=1)), ""

    def _redraw(self) -> None:
        frame = self.frame
        if frame is None:
            return
        colors, note = self._compute_colors(frame)
        self.colors = colors
        self.cloud.colors = colors
        query = "" if self.query is None else f", query point {self.query}"
        self.status.content = (f"**{frame.frame_id}** ({len(frame.points)} points{query}) "
                               f"coloured by {self.color_by.value}. {note}")
        self._draw_image()

    def _draw_image(self) -> None:
        import cv2

        frame = self.frame
        if frame is None or not frame.cameras or len(self.colors) != len(frame.points):
            return  # a camera switch while a new frame is being coloured: drawn by _redraw
        names = [cam.name for cam in frame.cameras]
        cam = frame.cameras[names.index(self.camera.value) if self.camera.value in names else 0]
        image = points_over_image(frame.xyz, cam, self.colors, mark=self.query)
        height = max(1, round(image.shape[0] * IMAGE_WIDTH / image.shape[1]))
        self.image.image = cv2.resize(image, (IMAGE_WIDTH, height), interpolation=cv2.INTER_AREA)

    def stop(self) -> None:
        self.server.stop()
