"""Time to draw each ``visualize`` picture (and the viewer's recolouring) for a 35k and a 120k
point scan of the synthetic drive, six 384 x 216 cameras.

Per picture: the per-point colours, the sheet (bird's-eye, perspective, every camera with its
projected points) and the PNG encode, for three model columns as in the paper's figure. The
network's forward pass (point features, predictions) is timed apart: it is the model's cost,
not the drawing's. Superpoints use a SLIC store made on the fly. Prints a markdown table.

    .venv/bin/python benchmarks/pictures.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seal_train.superpixels.generate import generate
from seal_train.superpixels.preview import draw_superpixels
from seal_train.superpixels.sources import SlicSource
from seal_train.superpixels.store import SuperpixelStore
from seal_train.superpixels.superpoints import superpoints
from seal_train.synth.drive import SynthConfig, generate_scene
from seal_train.visualize import (
    Column,
    draw_sheet,
    error_colors,
    label_colors,
    similarity_colors,
    write_png,
)
from seal_train.visualize.features import (
    FeatureModel,
    load_feature_models,
    query_index,
    similarity,
)

SCANS = {"35k": (32, 1152), "120k": (64, 1984)}
"""Scan label -> (LiDAR beams, azimuth steps)."""


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """Fastest of ``repeats`` runs, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def time_scan(beams: int, steps: int, model: FeatureModel, repeats: int, out: Path
              ) -> tuple[int, float, dict[str, float]]:
    """(points, forward-pass ms, picture -> drawing ms) for one rendered scan."""
    config = SynthConfig(scenes=1, frames=1, lidar_beams=beams, lidar_azimuth_steps=steps)
    frame = generate_scene(config, 0).frames[0].frame
    n = len(frame.points)
    truth = frame.train_labels()
    assert frame.label_map is not None
    palette = frame.label_map.palette
    rng = np.random.default_rng(0)
    prediction = np.where(rng.random(n) < 0.8, truth, rng.integers(1, len(palette), n))
    query = query_index(frame, xyz=(10.0, 0.0, 0.0))
    features = model.point_features(frame)
    feature_ms = best_of(repeats, lambda: model.point_features(frame))
    sim = similarity(features, query)

    def sheet(columns: list[Column], mark: int | None = None) -> None:
        write_png(out / "sheet.png", draw_sheet(frame, columns, mark).image)

    timings = {
        "similarity (3 columns)": lambda: sheet(
            [Column(t, similarity_colors(sim)) for t in ("random", "slic", "vfm")], query),
        "predictions (truth + 2)": lambda: sheet(
            [Column(t, label_colors(v, palette)) for t, v in
             (("truth", truth), ("a", prediction), ("b", prediction))]),
        "errors (3 columns)": lambda: sheet(
            [Column(t, error_colors(prediction, truth)) for t in "abc"]),
        "viewer recolour (similarity)": lambda: similarity_colors(similarity(features, query)),
    }
    row = {name: best_of(repeats, work) for name, work in timings.items()}
    store_dir = out / f"sp-{n}"
    generate([frame], SlicSource(), store_dir)  # type: ignore[arg-type]
    store = SuperpixelStore(store_dir)
    row["superpoints (6 cameras + BEV)"] = best_of(
        repeats, lambda: draw_superpixels(frame, store, out / f"pre-{n}"))
    maps = [store.read(cam.image_id, shape=(cam.height, cam.width)) for cam in frame.cameras]
    row["viewer recolour (superpoints)"] = best_of(repeats, lambda: superpoints(frame, maps))
    return n, feature_ms, row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_feature_models(["random"])[0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [(label, *time_scan(beams, steps, model, args.repeats, Path(tmp)))
                for label, (beams, steps) in SCANS.items()]
    print(f"\nDrawing time (ms, best of {args.repeats}); the forward pass is apart:\n")
    print("| picture | " + " | ".join(f"{label} ({n} pts)" for label, n, _, _ in rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for name in rows[0][3]:
        print(f"| {name} | " + " | ".join(f"{r[3][name]:.0f}" for r in rows) + " |")
    print("| (forward pass: point features, random-init backbone) | "
          + " | ".join(f"{r[2]:.0f}" for r in rows) + " |")


if __name__ == "__main__":
    main()
