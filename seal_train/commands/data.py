"""``data inspect``: what a dataset or bag holds, and whether its calibration is sane.

Prints frames, sequences, cameras, point counts, the label histogram and the share of points that
project into some camera image; writes PNGs of the first frame: points over each camera image
coloured by depth and by label, and a bird's-eye label plot; with --superpixels, also that
store's segments and superpoints of the first frame (as `superpixels --preview` draws them).

Examples:
    python -m seal_train data inspect /data/nuscenes
    python -m seal_train data inspect drive/rosbag/scene-0000 --out inspect/ --max-frames 20
    python -m seal_train data inspect drive/nuscenes --superpixels drive/superpixels-slic
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from seal_train import visualize
from seal_train.commands.superpixels import add_superpoint_arguments, superpoint_cleanup
from seal_train.sources.detect import detect, open_source
from seal_train.sources.frame import Frame, project


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="inspect datasets and bags",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    inspect = actions.add_parser("inspect", help="summarise a dataset and draw its first frame",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    inspect.add_argument("path", type=Path, help="nuScenes root, SemanticKITTI-format root or bag")
    inspect.add_argument("--out", type=Path, default=None,
                         help="folder for the PNGs (default: ./inspect-<name>)")
    inspect.add_argument("--max-frames", type=int, default=0,
                         help="read at most this many frames (default 0 = all)")
    inspect.add_argument("--superpixels", type=Path, default=None, metavar="DIR",
                         help="also draw this superpixel store's segments and superpoints")
    add_superpoint_arguments(inspect)
    inspect.set_defaults(run=run_inspect)


@dataclass
class Summary:
    """Figures gathered over the inspected frames."""

    frames: int = 0
    sequences: dict[str, int] = field(default_factory=dict)
    points: list[int] = field(default_factory=list)
    cameras: dict[str, tuple[int, int]] = field(default_factory=dict)
    class_counts: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    projected: int = 0  # points that land in at least one image
    projected_per_camera: dict[str, int] = field(default_factory=dict)

    def add(self, frame: Frame) -> None:
        self.frames += 1
        self.sequences[frame.sequence] = self.sequences.get(frame.sequence, 0) + 1
        self.points.append(len(frame.points))
        pairs = project(frame)
        self.projected += int(np.unique(pairs.point_index).size)
        for index, cam in enumerate(frame.cameras):
            self.cameras.setdefault(cam.name, (cam.width, cam.height))
            hits = int((pairs.camera_index == index).sum())
            self.projected_per_camera[cam.name] = self.projected_per_camera.get(cam.name, 0) + hits
        if frame.labels is not None and frame.label_map is not None:
            counts = np.bincount(frame.train_labels(), minlength=len(frame.label_map.class_names))
            self.class_counts = counts if self.class_counts is None else self.class_counts + counts
            self.class_names = frame.label_map.class_names

    def report(self) -> str:
        pts = np.asarray(self.points)
        total = int(pts.sum())
        lines = [f"frames: {self.frames} in {len(self.sequences)} sequences "
                 f"({', '.join(f'{k}: {v}' for k, v in list(self.sequences.items())[:8])}"
                 f"{', ...' if len(self.sequences) > 8 else ''})",
                 f"points per frame: min {pts.min()}, mean {pts.mean():.0f}, max {pts.max()}"]
        if self.cameras:
            lines.append("cameras: " + ", ".join(f"{n} {w}x{h}"
                                                 for n, (w, h) in self.cameras.items()))
            share = 100.0 * self.projected / max(total, 1)
            lines.append(f"calibration: {share:.1f} % of points project into some image "
                         f"(depth > 1 m, inside the image)")
            for name, hits in self.projected_per_camera.items():
                lines.append(f"  {name:18s} {100.0 * hits / max(total, 1):5.1f} % of points")
        else:
            lines.append("cameras: none")
        if self.class_counts is not None:
            lines.append("labels (training classes):")
            rows = zip(self.class_names, self.class_counts, strict=True)
            for cls, (name, count) in enumerate(rows):
                lines.append(f"  {cls:3d} {name:22s} {count:10d}  "
                             f"{100.0 * count / max(total, 1):5.1f} %")
        else:
            lines.append("labels: none")
        return "\n".join(lines)


def draw_frame(frame: Frame, out: Path) -> list[Path]:
    """PNGs of one frame: per camera depth and label overlays, and a bird's-eye label plot."""
    written = []
    label_colors = None
    if frame.labels is not None and frame.label_map is not None:
        label_colors = frame.label_map.palette[frame.train_labels()]
    for cam in frame.cameras:
        written.append(visualize.write_png(out / f"{cam.name}_depth.png",
                                           visualize.points_over_image(frame.xyz, cam)))
        if label_colors is not None:
            written.append(visualize.write_png(
                out / f"{cam.name}_labels.png",
                visualize.points_over_image(frame.xyz, cam, colors=label_colors)))
    bev_colors = label_colors if label_colors is not None else visualize.depth_colors(
        np.linalg.norm(frame.xyz, axis=1))
    written.append(visualize.write_png(out / "birds_eye.png",
                                       visualize.birds_eye(frame.xyz, bev_colors)))
    return written


def run_inspect(args: argparse.Namespace) -> int:
    kind = detect(args.path)
    source = open_source(args.path, kind)
    out = args.out or Path(f"inspect-{args.path.resolve().name}")
    count = len(source) if args.max_frames <= 0 else min(len(source), args.max_frames)
    summary = Summary()
    start = time.perf_counter()
    first = None
    for index in tqdm(range(count), desc="read frames", unit="frame"):
        frame = source[index]
        first = first or frame
        summary.add(frame)
    seconds = time.perf_counter() - start
    print(f"source: {kind.value} at {args.path} ({len(source)} frames; read {count} in "
          f"{seconds:.1f} s, {count / max(seconds, 1e-9):.1f} frames/s)")
    print(summary.report())
    skipped = getattr(source, "skipped", None)
    if skipped:
        print(f"skipped: {dict(skipped)}")
    if first is not None:
        for path in draw_frame(first, out):
            print(f"wrote {path}")
        if args.superpixels is not None:
            from seal_train.superpixels.preview import draw_superpixels
            from seal_train.superpixels.store import SuperpixelStore

            for path in draw_superpixels(first, SuperpixelStore(args.superpixels), out,
                                         cleanup=superpoint_cleanup(args)):
                print(f"wrote {path}")
    return 0
