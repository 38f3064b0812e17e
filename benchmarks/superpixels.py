"""Superpixel sources: seconds per image for SAM, LiDAR-prompted SAM and SLIC; quality vs oracle.

    .venv/bin/python benchmarks/superpixels.py [--sam-model vit_b] [--sam-checkpoint FILE]
        [--points-per-side 32] [--sizes 1600x900 384x216] [--images 1] [--threads 2]

Images are synthetic-drive cameras rendered at each size (nuScenes' 1600x900 and the drive's
default 384x216). ``sam`` and ``sam-lidar`` share one model, so their encoder seconds measure the
same work; the rest splits into prompts + decoder (for ``sam`` the whole automatic generator:
grid prompts, decoder, filters, NMS, RLE) and post-processing (painting; SLIC fill for
``sam-lidar``); ``sam-lidar``'s ground fit and clustering, once per frame, is its own column.
Quality thresholds are forced off (pred_iou 0, stability 0, point coverage 0) so mask counts
compare. Without a checkpoint the weights are random (same architecture and cost as the released
ones); ``--sam-model tiny`` swaps in the 64-pixel test model when ViT-B is too slow for the
machine. SLIC runs on one core (skimage's SLIC is single-threaded): images per hour per core at
1600x900 is 3600 / its seconds.

With ``--sam-checkpoint``, the three sources are also scored against the synthetic drive's
instance masks (the oracle) on ``--quality-frames`` frames at 384x216: segment purity (share of
each segment's pixels in its majority instance, pixel-weighted), boundary recall (share of oracle
boundary pixels within 2 px of a segment boundary) and mean segments per image. Every output is
checked: (H, W) uint16, ids dense from 0.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from seal_train.sources.frame import CameraView, Frame
from seal_train.superpixels import NO_SEGMENT, SlicSource
from seal_train.superpixels.sam import SamGeneratorSettings, SamSource
from seal_train.superpixels.sam_lidar import SamLidarSettings, SamLidarSource
from seal_train.superpixels.sam_model import SAM_MODELS, SamModel, build_tiny_sam
from seal_train.synth import SynthConfig, generate_scene

STAGES = ("encoder_s", "decoder_s", "post_s")


def _frame(width: int, height: int, cameras: int, seed: int = 0, index: int = 0) -> Frame:
    config = SynthConfig(scenes=1, frames=index + 1, seed=seed, image_width=width,
                         image_height=height)
    frame = generate_scene(config, 0).frames[index].frame
    return replace(frame, cameras=frame.cameras[:cameras])


def _check(segments: np.ndarray, camera: CameraView) -> int:
    assert segments.dtype == np.uint16 and segments.shape == camera.image.shape[:2]
    ids = np.unique(segments[segments != NO_SEGMENT])
    assert ids.tolist() == list(range(len(ids))), "ids not dense"
    return len(ids)


def _model(kind: str, checkpoint: Path | None) -> torch.nn.Module:
    if checkpoint is not None:
        return SamModel(kind, checkpoint).build()
    if kind == "tiny":
        return build_tiny_sam()
    from segment_anything import sam_model_registry

    return sam_model_registry[kind](checkpoint=None).eval()


def _speed_rows(frame: Frame, sam: SamSource, lidar: SamLidarSource) -> list[str]:
    n = len(frame.cameras)
    rows = []
    timing: dict[str, float] = {}
    segments = sam.segment_many(frame.cameras, timing)
    counts = [_check(s, c) for s, c in zip(segments, frame.cameras, strict=True)]
    rows.append(_row("sam", frame, timing, n, 0.0, timing["masks"] / n, counts))
    timing = {}
    maps = lidar.segment_frame(frame, timing)
    counts = [_check(maps[c.image_id], c) for c in frame.cameras]
    rows.append(_row("sam-lidar", frame, timing, n, timing["scene_s"],
                     timing["masks"] / n, counts, f" of {timing['prompts'] / n:.0f} prompts"))
    return rows


def _row(name: str, frame: Frame, timing: dict[str, float], n: int, scene_s: float,
         masks: float, counts: list[int], note: str = "") -> str:
    camera = frame.cameras[0]
    stages = [timing.get(k, 0.0) / n for k in STAGES]
    total = sum(stages) + scene_s / n
    return (f"| {name} | {camera.width}x{camera.height} | {stages[0]:.2f} | {stages[1]:.2f} | "
            f"{stages[2]:.3f} | {scene_s / n:.3f} | {total:.2f} | {masks:.0f}{note} | "
            f"{statistics.mean(counts):.0f} |")


def _slic_seconds(frame: Frame, repeats: int) -> tuple[float, int]:
    slic = SlicSource()
    times, counts = [], []
    for _ in range(repeats):
        for camera in frame.cameras:
            start = time.perf_counter()
            segments = slic.segment(camera)
            times.append(time.perf_counter() - start)
            counts.append(_check(segments, camera))
    return statistics.median(times), round(statistics.mean(counts))


def _boundaries(labels: np.ndarray) -> np.ndarray:
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def quality(segments: np.ndarray, instances: np.ndarray, tolerance_px: int = 2
            ) -> tuple[float, float, int]:
    """(purity, boundary recall, segments) of one map against the oracle's instance mask (sky,
    id 0, is an instance here: a segment spilling into the sky is impure)."""
    from scipy import ndimage

    covered = segments != NO_SEGMENT
    seg, inst = segments[covered].astype(np.int64), instances[covered].astype(np.int64)
    pair = seg * (int(inst.max()) + 1) + inst
    _, pair_id, pair_count = np.unique(pair, return_index=True, return_counts=True)
    best = np.zeros(int(seg.max()) + 1 if seg.size else 0, np.int64)
    np.maximum.at(best, seg[pair_id], pair_count)
    purity = float(best.sum() / max(seg.size, 1))
    truth = _boundaries(instances)
    found = ndimage.binary_dilation(_boundaries(segments), iterations=tolerance_px)
    recall = float((truth & found).sum() / max(truth.sum(), 1))
    return purity, recall, len(best)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam-model", choices=SAM_MODELS, default="vit_b")
    parser.add_argument("--sam-checkpoint", type=Path, default=None)
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--sizes", nargs="+", default=["1600x900", "384x216"])
    parser.add_argument("--images", type=int, default=1, help="cameras per size (1..6)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for SAM")
    parser.add_argument("--quality-frames", type=int, default=2)
    parser.add_argument("--device", default=None, help="torch device (default: cuda if any)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = _model(args.sam_model, args.sam_checkpoint)
    weights = args.sam_checkpoint.name if args.sam_checkpoint else "random weights"
    sam = SamSource(model, SamGeneratorSettings(points_per_side=args.points_per_side,
                                                pred_iou_thresh=0.0, stability_score_thresh=0.0),
                    device=args.device)
    lidar = SamLidarSource(model, SamLidarSettings(min_point_coverage=0.0), device=args.device)
    warm = _frame(64, 36, 1)  # lazy imports and first-call allocations out of the timings
    SamSource(model, replace(sam.settings, points_per_side=2), device=args.device).segment(
        warm.cameras[0])
    lidar.segment_frame(warm)
    print(f"SAM {args.sam_model} ({weights}), {args.points_per_side}x{args.points_per_side} grid, "
          f"{args.images} image(s) per size, {args.threads} torch threads\n")
    print("| source | image | encoder s | prompts+decoder s | post s | scene s | total s/image "
          "| masks/image | segments/image |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    frames = {}
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        frames[size] = _frame(width, height, args.images)
        for row in _speed_rows(frames[size], sam, lidar):
            print(row, flush=True)
    print(f"\n(SAM on {next(model.parameters()).device}; timings exclude the model build.)\n")
    torch.set_num_threads(1)
    print("| SLIC (150 segments) | image | s/image | segments/image | images/hour/core |")
    print("|---|---|---:|---:|---:|")
    for size, frame in frames.items():
        seconds, count = _slic_seconds(frame, repeats=3)
        print(f"| slic | {size} | {seconds:.3f} | {count} | {3600 / seconds:,.0f} |")
    if args.sam_checkpoint is None:
        print("\nNo --sam-checkpoint: quality against the oracle skipped (random weights say "
              "nothing about SAM's segments).")
        return 0
    real_sam = SamSource(model, device=args.device)  # Seal's thresholds
    real_lidar = SamLidarSource(model, device=args.device)
    scores: dict[str, list[tuple[float, float, int]]] = {"slic": [], "sam": [], "sam-lidar": []}
    for index in range(args.quality_frames):
        frame = _frame(384, 216, 6, index=index)
        lidar_maps = real_lidar.segment_frame(frame)
        for camera, sam_map in zip(frame.cameras, real_sam.segment_many(frame.cameras),
                                   strict=True):
            assert camera.instance_mask is not None
            for name, segments in (("slic", SlicSource().segment(camera)), ("sam", sam_map),
                                   ("sam-lidar", lidar_maps[camera.image_id])):
                _check(segments, camera)
                scores[name].append(quality(segments, camera.instance_mask))
    print(f"\nQuality vs the oracle, {args.quality_frames} frames x 6 cameras at 384x216, "
          f"Seal's thresholds:\n")
    print("| source | purity | boundary recall (2 px) | segments/image |")
    print("|---|---:|---:|---:|")
    for name, values in scores.items():
        purity, recall, count = (statistics.mean(v) for v in zip(*values, strict=True))
        print(f"| {name} | {purity:.3f} | {recall:.3f} | {count:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
