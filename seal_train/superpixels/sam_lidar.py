"""LiDAR-prompted SAM superpixels (``sam-lidar``): SAM asked about the objects the scan sees.

The automatic generator prompts a 32x32 grid and keeps what survives its quality filters, so the
segments follow image texture, not the things the points hit. Here the prompts come from the
LiDAR: per frame the ground plane is fitted (:func:`seal_train.scene.fit_ground_plane`), the
points above it are clustered in 3D (:func:`seal_train.scene.cluster_points`), each cluster is
projected into each camera (:func:`seal_ros.core.projection.project_points`, the one projection)
and its visible points prompt ``SamPredictor``: up to ``points_per_prompt`` positive points and
the box of its pixels, every prompt of an image in ``prompts_per_batch`` batches through
``predict_torch`` after one encoder pass (``segment_anything/predictor.py``). Fewer points than
``points_per_prompt`` are padded with label -1, SAM's own "not a point"
(``segment_anything/modeling/prompt_encoder.py``).

A mask is kept when SAM's predicted IoU reaches ``pred_iou_thresh`` and it covers at least
``min_point_coverage`` of its cluster's visible points (a mask that misses its own object is
wrong whatever SAM thinks of it). Masks are painted large to small, as for ``sam``.

**Ground and background are not LiDAR objects**: the pixels no kept mask covers (road, sky,
distant buildings) are filled with SLIC superpixels (``background: slic``, the SLIC settings in
the manifest), or left :data:`NO_SEGMENT` (``background: none``).

Occlusion: ``project_points`` has no depth test, so a cluster behind a car would prompt on the
car. A point is visible when its depth is within ``occlusion_margin_m`` of the nearest point
falling in its ``occlusion_cell_px`` square cell (sparse scans need cells, not pixels).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from seal_ros.core.projection import project_points
from seal_ros.errors import ConfigError
from seal_train.scene import GROUND_BAND_M, cluster_points, fit_ground_plane, ground_mask
from seal_train.sources.frame import CameraView, Frame
from seal_train.superpixels.sam import fill_small_holes, paint_masks
from seal_train.superpixels.sam_model import (
    LazySam,
    encode_images,
    preset_predictor,
    sync,
)
from seal_train.superpixels.sources import SlicSource
from seal_train.superpixels.store import NO_SEGMENT, densify

__all__ = ["BACKGROUNDS", "Prompts", "SamLidarSettings", "SamLidarSource", "cluster_prompts"]

BACKGROUNDS = ("slic", "none")


@dataclass(frozen=True)
class SamLidarSettings:
    """Everything that changes ``sam-lidar``'s output (all in the manifest).

    Scene: ``ground_band_m`` (points this close to the fitted plane are ground), ``eps_m``,
    ``min_points``, ``voxel_m``, ``min_cluster_points`` (:func:`seal_train.scene.cluster_points`),
    ``seed`` (RANSAC and prompt-point sampling). Prompts: a cluster prompts a camera when at
    least ``min_prompt_points`` of its points are visible there; ``points_per_prompt`` positive
    points, plus its pixel box when ``use_box``; ``multimask`` asks SAM for three masks and keeps
    the best-scored (one mask is SAM's advice for unambiguous prompts). Masks: ``pred_iou_thresh``,
    ``min_point_coverage`` (see the module), ``min_mask_region_area`` (SAM's hole/island
    postprocess), ``fill_holes_area`` (uncovered gaps below this take the nearest mask).
    Background: ``background`` (``slic`` or ``none``) and SLIC's ``slic_*`` parameters.
    """

    ground_band_m: float = GROUND_BAND_M
    eps_m: float = 0.7
    min_points: int = 3
    voxel_m: float = 0.15
    min_cluster_points: int = 10
    seed: int = 0
    min_prompt_points: int = 5
    points_per_prompt: int = 5
    use_box: bool = True
    multimask: bool = False
    occlusion_cell_px: int = 8
    occlusion_margin_m: float = 1.0
    prompts_per_batch: int = 64
    pred_iou_thresh: float = 0.0
    min_point_coverage: float = 0.5
    min_mask_region_area: int = 0
    fill_holes_area: int = 0
    background: str = "slic"
    slic_n_segments: int = 150
    slic_compactness: float = 6.0
    slic_sigma: float = 3.0

    def __post_init__(self) -> None:
        bad = [f"{k}={getattr(self, k)} (>= 1)" for k in ("min_points", "min_cluster_points",
               "min_prompt_points", "points_per_prompt", "occlusion_cell_px", "prompts_per_batch",
               "slic_n_segments") if getattr(self, k) < 1]
        bad += [f"{k}={getattr(self, k)} (0..1)" for k in ("pred_iou_thresh",
                "min_point_coverage") if not 0 <= getattr(self, k) <= 1]
        bad += [f"{k}={getattr(self, k)} (> 0)" for k in ("ground_band_m", "eps_m")
                if getattr(self, k) <= 0]
        bad += [f"{k}={getattr(self, k)} (>= 0)" for k in ("voxel_m", "occlusion_margin_m",
                "min_mask_region_area", "fill_holes_area") if getattr(self, k) < 0]
        if self.background not in BACKGROUNDS:
            bad.append(f"background={self.background!r} ({' or '.join(BACKGROUNDS)})")
        if bad:
            raise ConfigError(f"sam-lidar settings out of range: {', '.join(bad)}")

    def slic(self) -> SlicSource:
        return SlicSource(self.slic_n_segments, self.slic_compactness, self.slic_sigma)


@dataclass(frozen=True)
class Prompts:
    """One camera's prompts, one row per prompted cluster (C of them).

    ``coords`` (C, P, 2) float64 pixel (x, y) = (col, row), padded rows label -1; ``labels``
    (C, P) int64 1 / -1; ``boxes`` (C, 4) float64 x0, y0, x1, y1 of the visible points;
    ``cluster`` (C,) int64 cluster id; ``point_group`` / ``point_row`` / ``point_col`` (V,)
    every visible point's prompt row and pixel (for the coverage check).
    """

    coords: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    cluster: np.ndarray
    point_group: np.ndarray
    point_row: np.ndarray
    point_col: np.ndarray

    def __len__(self) -> int:
        return int(self.cluster.shape[0])


def _visible(row: np.ndarray, col: np.ndarray, depth: np.ndarray, width: int, cell_px: int,
             margin_m: float) -> np.ndarray:
    """(P,) bool: within ``margin_m`` of the nearest depth in the point's square cell."""
    cells_x = -(-width // cell_px)
    cell = (row // cell_px) * cells_x + col // cell_px
    uniq, inverse = np.unique(cell, return_inverse=True)
    nearest = np.full(len(uniq), np.inf)
    np.minimum.at(nearest, inverse, depth)
    return depth <= nearest[inverse] + margin_m


def cluster_prompts(xyz: np.ndarray, clusters: np.ndarray, camera: CameraView,
                    settings: SamLidarSettings, rng: np.random.Generator) -> Prompts:
    """The prompts of every cluster visible in ``camera`` (vectorised over points).

    ``xyz`` (N, 3) is the whole scan (all of it occludes), ``clusters`` (N,) int64 its cluster
    ids (-1 = ground or noise, never prompted).
    """
    index, row, col, depth = project_points(xyz, camera.K, camera.T_cam_lidar, camera.height,
                                            camera.width)
    seen = _visible(row, col, depth, camera.width, settings.occlusion_cell_px,
                    settings.occlusion_margin_m)
    seen &= clusters[index] >= 0
    cl, row, col = clusters[index[seen]], row[seen], col[seen]
    ids, group, counts = np.unique(cl, return_inverse=True, return_counts=True)
    keep = counts >= settings.min_prompt_points
    remap = np.full(len(ids), -1, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    group = remap[group.reshape(-1)]
    on = group >= 0
    group, row, col = group[on], row[on], col[on]
    n_prompts, k = int(keep.sum()), settings.points_per_prompt
    # Sample up to k points per prompt: sort by (prompt, random key), take the first k of each.
    order = np.lexsort((rng.random(len(group)), group))
    sorted_group = group[order]
    starts = np.searchsorted(sorted_group, np.arange(n_prompts))
    rank = np.arange(len(order)) - starts[sorted_group]  # position within its prompt
    first = rank < k
    take, prompt, position = order[first], sorted_group[first], rank[first]
    coords = np.zeros((n_prompts, k, 2), dtype=np.float64)
    labels = np.full((n_prompts, k), -1, dtype=np.int64)
    coords[prompt, position] = np.stack([col[take], row[take]], axis=1)
    labels[prompt, position] = 1
    boxes = np.empty((n_prompts, 4), dtype=np.float64)  # x0, y0, x1, y1
    boxes[:, :2], boxes[:, 2:] = np.inf, -np.inf
    xy = np.stack([col, row], axis=1).astype(np.float64)  # (V, 2)
    np.minimum.at(boxes[:, :2], group, xy)
    np.maximum.at(boxes[:, 2:], group, xy)
    return Prompts(coords, labels, boxes, ids[keep].astype(np.int64), group, row, col)


@dataclass(frozen=True, eq=False)
class SamLidarSource(LazySam):
    """SAM prompted by LiDAR clusters, SLIC on the rest (a superpixel source, ``sam-lidar``).

    Needs the scan: :meth:`segment_frame` is what ``generate`` calls; :meth:`segment` (image
    only) refuses. Attributes as :class:`~seal_train.superpixels.sam_model.LazySam`.
    """

    settings: SamLidarSettings = SamLidarSettings()
    name: str = "sam-lidar"

    def segment(self, camera: CameraView) -> np.ndarray:
        raise ConfigError(f"{self.name} prompts SAM with the LiDAR scan; it segments whole frames "
                          f"(segment_frame), not the image {camera.image_id} alone")

    def _predictor(self) -> tuple[Any, str]:
        if "predictor" not in self._built:
            model, _ = self.built_model()
            self._built["predictor"] = preset_predictor(model)
        return self._built["predictor"], self._built["device"]

    def clusters(self, frame: Frame) -> np.ndarray:
        """(N,) int64 cluster id of every point of ``frame``; -1 for ground and noise."""
        s = self.settings
        xyz = frame.xyz
        plane = fit_ground_plane(xyz, np.random.default_rng(s.seed))
        above = ~ground_mask(xyz, plane, s.ground_band_m)
        if plane is not None:  # below the plane: ground noise, never an object
            above &= plane.height(xyz) > -s.ground_band_m
        labels = np.full(len(xyz), -1, dtype=np.int64)
        labels[above] = cluster_points(xyz[above], eps_m=s.eps_m, min_points=s.min_points,
                                       voxel_m=s.voxel_m, min_cluster_points=s.min_cluster_points)
        return labels

    def segment_frame(self, frame: Frame, timing: dict[str, float] | None = None
                      ) -> dict[str, np.ndarray]:
        """(H, W) uint16 map per camera image id; ``timing`` accumulates seconds in ``scene_s``
        (ground, clusters), ``encoder_s``, ``decoder_s`` (prompts and decoder) and ``post_s``
        (painting, SLIC), and counts in ``prompts`` and ``masks`` (kept)."""
        predictor, device = self._predictor()
        timing = {} if timing is None else timing

        def lap(key: str, tic: float) -> float:
            sync(device)
            toc = time.perf_counter()
            timing[key] = timing.get(key, 0.0) + toc - tic
            return toc

        tic = time.perf_counter()
        clusters = self.clusters(frame)
        tic = lap("scene_s", tic)
        rng = np.random.default_rng([self.settings.seed, 1])
        out: dict[str, np.ndarray] = {}
        for start in range(0, len(frame.cameras), self.encoder_batch):
            batch = frame.cameras[start:start + self.encoder_batch]
            encoded = list(encode_images(predictor.model, [c.image for c in batch]))
            tic = lap("encoder_s", tic)
            for camera, (features, input_size) in zip(batch, encoded, strict=True):
                predictor.preset = (features, camera.image.shape[:2], input_size)
                predictor.set_image(camera.image)
                prompts = cluster_prompts(frame.xyz, clusters, camera, self.settings, rng)
                masks = self._masks(predictor, prompts, camera)
                tic = lap("decoder_s", tic)
                timing["prompts"] = timing.get("prompts", 0.0) + len(prompts)
                timing["masks"] = timing.get("masks", 0.0) + len(masks)
                out[camera.image_id] = self._paint(masks, camera)
                tic = lap("post_s", tic)
        return out

    def _masks(self, predictor: Any, prompts: Prompts, camera: CameraView) -> list[np.ndarray]:
        """The kept (H, W) bool masks of ``prompts`` (see the module for the filters)."""
        import torch

        s, size = self.settings, camera.image.shape[:2]
        kept: list[np.ndarray] = []
        for start in range(0, len(prompts), s.prompts_per_batch):
            rows = slice(start, start + s.prompts_per_batch)
            device = predictor.device
            coords = torch.as_tensor(predictor.transform.apply_coords(prompts.coords[rows], size),
                                     dtype=torch.float, device=device)  # (B, P, 2)
            labels = torch.as_tensor(prompts.labels[rows], dtype=torch.int, device=device)
            boxes = (torch.as_tensor(predictor.transform.apply_boxes(prompts.boxes[rows], size),
                                     dtype=torch.float, device=device) if s.use_box else None)
            with torch.no_grad():
                masks, iou, _ = predictor.predict_torch(coords, labels, boxes,
                                                        multimask_output=s.multimask)
                best = iou.argmax(dim=1)  # (B,)
                pick = torch.arange(len(best), device=device)
                masks, iou = masks[pick, best], iou[pick, best]  # (B, H, W), (B,)
            masks_np, iou_np = masks.cpu().numpy(), iou.float().cpu().numpy()
            in_batch = (prompts.point_group >= start) & (prompts.point_group < rows.stop)
            local = prompts.point_group[in_batch] - start
            hits = masks_np[local, prompts.point_row[in_batch], prompts.point_col[in_batch]]
            coverage = (np.bincount(local, hits, len(masks_np))
                        / np.maximum(np.bincount(local, minlength=len(masks_np)), 1))
            good = (iou_np >= s.pred_iou_thresh) & (coverage >= s.min_point_coverage)
            kept.extend(self._clean(m) for m in masks_np[good])
        return [m for m in kept if m.any()]

    def _clean(self, mask: np.ndarray) -> np.ndarray:
        area = self.settings.min_mask_region_area
        if area <= 0:
            return mask
        from segment_anything.utils.amg import remove_small_regions

        mask, _ = remove_small_regions(mask, area, mode="holes")
        mask, _ = remove_small_regions(mask, area, mode="islands")
        return np.asarray(mask, dtype=bool)

    def _paint(self, masks: list[np.ndarray], camera: CameraView) -> np.ndarray:
        segments = fill_small_holes(paint_masks(masks, camera.image.shape[:2]),
                                    self.settings.fill_holes_area)
        if self.settings.background == "none":
            return segments
        covered = segments != NO_SEGMENT
        background = self.settings.slic().segment(camera).astype(np.int64)
        return densify(np.where(covered, segments.astype(np.int64), NO_SEGMENT + background))
