"""``visualize``: pictures of what a network learned, one PNG per frame.

similarity   cosine similarity of every point's feature to a query point's (viridis: violet =
             least similar, yellow = the query itself), one titled column per --checkpoint
             (``random`` = a random-init backbone of the same architecture), same query
predictions  ground truth, then each model's classes, in the dataset's palette
errors       per model: correct points grey, wrong ones red, ignore-labelled ones dim
superpoints  a superpixel store's segments and superpoints (as `superpixels --preview`)

Each column shows the bird's-eye view, a perspective view from behind the car and every camera
image with its projected points; the query point is marked by a white ring. Files go to
<out>/<frame id>/<picture>.png; existing files are kept unless --overwrite.

Examples:
    python -m seal_train visualize similarity --data drive/nuscenes --checkpoint random \\
        --checkpoint runs/slic/last.pt --checkpoint runs/oracle/last.pt --query-class car
    python -m seal_train visualize similarity --data drive/nuscenes \\
        --checkpoint runs/slic/last.pt
        --xyz 12.5 -3 0.5 --frame 0 10 20 --out pictures/
    python -m seal_train visualize predictions --head runs/probe/probe.pt --split val --frame 0
    python -m seal_train visualize errors --checkpoint runs/finetune/best.pt --data drive/nuscenes
    python -m seal_train visualize superpoints --data drive/nuscenes --superpixels sp/slic
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from seal_ros.errors import ConfigError
from seal_train.commands.superpixels import add_superpoint_arguments, superpoint_cleanup

if TYPE_CHECKING:
    from seal_train.engine.scoring import ScoredModel
    from seal_train.sources.detect import FrameSource
    from seal_train.sources.frame import Frame
    from seal_train.visualize import Column

PICTURES = {"similarity": "similarity of every point to a query point, per checkpoint",
            "predictions": "ground truth and each model's predicted classes",
            "errors": "each model's correct (grey) and wrong (red) points",
            "superpoints": "a superpixel store's segments and superpoints"}


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="draw similarity maps, predictions, errors, superpoints",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    pictures = parser.add_subparsers(dest="picture", required=True, metavar="PICTURE")
    for picture in PICTURES:
        p = pictures.add_parser(picture, help=PICTURES[picture],
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(p, data_required=picture in ("similarity", "superpoints"))
        if picture == "similarity":
            p.add_argument("--checkpoint", action="append", required=True, metavar="PT|random",
                           help="pretraining or fine-tuning checkpoint, or 'random'; repeat for "
                                "columns side by side")
            query = p.add_mutually_exclusive_group(required=True)
            query.add_argument("--point", type=int, help="query point index in the frame")
            query.add_argument("--xyz", type=float, nargs=3, metavar=("X", "Y", "Z"),
                               help="query = the point nearest this LiDAR-frame position (m)")
            query.add_argument("--query-class", metavar="NAME",
                               help="query = centre point of the frame's largest instance of "
                                    "this class (needs instance labels)")
            p.add_argument("--vmin", type=float, default=None,
                           help="similarity drawn violet (default: each column's lowest)")
            p.add_argument("--seed", type=int, default=0, help="seed of 'random' (default 0)")
        elif picture in ("predictions", "errors"):
            p.add_argument("--head", type=Path, action="append", default=[],
                           help="probe.pt from `probe` (repeatable)")
            p.add_argument("--checkpoint", type=Path, action="append", default=[],
                           help="best.pt / last.pt from `finetune` (repeatable)")
        else:
            p.add_argument("--superpixels", type=Path, required=True, metavar="DIR",
                           help="superpixel store (from `superpixels`)")
            add_superpoint_arguments(p)
        p.set_defaults(run=run)


def _common(parser: argparse.ArgumentParser, data_required: bool) -> None:
    parser.add_argument("--data", type=Path, required=data_required, default=None,
                        help="dataset root or bag" + ("" if data_required else
                                                      " (default: the one the model trained on)"))
    parser.add_argument("--split", default="all", help="split of --data (default: all)")
    parser.add_argument("--frame", type=int, nargs="+", default=[0], metavar="INDEX",
                        help="frame indices in the split (default: 0)")
    parser.add_argument("--cameras", nargs="+", default=None, metavar="NAME",
                        help="camera images to draw (default: all)")
    parser.add_argument("--extent", type=float, default=60.0, metavar="M",
                        help="bird's-eye half-width in metres (default 60)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: ./visualize-<picture>)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing PNGs")


def _frames(args: argparse.Namespace, model: ScoredModel | None = None) -> FrameSource:
    from seal_train.engine.pretrain_config import DataConfig
    from seal_train.engine.scoring import open_frames

    data = model.data if model is not None and args.data is None else DataConfig(path=args.data)
    frames = open_frames(data, args.split)
    bad = [i for i in args.frame if not 0 <= i < len(frames)]
    if bad:
        raise ConfigError(f"--frame {bad}: the split has {len(frames)} frames")
    return frames


def _cameras(frame: Frame, names: Sequence[str] | None) -> list[int]:
    if names is None:
        return list(range(len(frame.cameras)))
    have = [cam.name for cam in frame.cameras]
    missing = [n for n in names if n not in have]
    if missing:
        raise ConfigError(f"--cameras {missing}: frame {frame.frame_id} has {have}")
    return [have.index(n) for n in names]


def _targets(args: argparse.Namespace, frames: FrameSource) -> list[tuple[int, Path]]:
    """(frame index, output PNG) per --frame; refuses to overwrite before any work."""
    from seal_train.superpixels.preview import frame_folder

    out = args.out or Path(f"visualize-{args.picture}")
    targets = [(i, frame_folder(out, frames.frame_ids[i]) / f"{args.picture}.png")
               for i in args.frame]
    existing = [str(path) for _, path in targets if path.exists()]
    if existing and not args.overwrite:
        raise ConfigError(f"{', '.join(existing)} exist; pass --overwrite to replace them")
    return targets


def _draw(args: argparse.Namespace, frames: FrameSource,
          columns: Callable[[Frame], tuple[list[Column], int | None]]) -> int:
    from tqdm import tqdm

    from seal_train.visualize import draw_sheet, write_png

    for index, path in tqdm(_targets(args, frames), desc=f"visualize {args.picture}",
                            unit="frame"):
        frame = frames[index]
        cols, mark = columns(frame)
        sheet = draw_sheet(frame, cols, mark, args.extent, cameras=_cameras(frame, args.cameras))
        print(f"wrote {write_png(path, sheet.image)}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.picture == "similarity":
        return _similarity(args)
    if args.picture == "superpoints":
        return _superpoints(args)
    return _predictions(args)


def _similarity(args: argparse.Namespace) -> int:
    from seal_train.visualize import Column, similarity_colors
    from seal_train.visualize.features import load_feature_models, query_index, similarity

    models = load_feature_models(args.checkpoint, args.seed)
    frames = _frames(args)

    def columns(frame: Frame) -> tuple[list[Column], int]:
        query = query_index(frame, args.point, args.xyz, args.query_class)
        return [Column(m.title, similarity_colors(similarity(m.point_features(frame), query),
                                                  args.vmin)) for m in models], query

    return _draw(args, frames, columns)


def _predictions(args: argparse.Namespace) -> int:
    from seal_ros.labels import IGNORE_CLASS, palette_for
    from seal_train.visualize import Column, error_colors, label_colors
    from seal_train.visualize.features import load_scored_model, predict

    models = [load_scored_model(head=h, data=args.data) for h in args.head]
    models += [load_scored_model(checkpoint=c, data=args.data) for c in args.checkpoint]
    if not models:
        raise ConfigError(f"visualize {args.picture}: give --head or --checkpoint")
    frames = _frames(args, models[0])

    def columns(frame: Frame) -> tuple[list[Column], None]:
        palette = (frame.label_map.palette if frame.label_map is not None
                   else palette_for(models[0].class_names))
        truth = frame.train_labels() if frame.labels is not None else None
        if args.picture == "errors" and truth is None:
            raise ConfigError(f"frame {frame.frame_id}: has no labels to find errors with")
        cols = [] if truth is None or args.picture == "errors" else [
            Column("ground truth", label_colors(truth, palette))]
        for model in models:
            prediction = predict(model, frame)
            title = f"{model.source.parent.name}/{model.source.name}"
            if args.picture == "errors" and truth is not None:
                wrong = float((prediction != truth)[truth != IGNORE_CLASS].mean())
                cols.append(Column(f"{title} ({100 * wrong:.1f}% wrong)",
                                   error_colors(prediction, truth, IGNORE_CLASS)))
            else:
                cols.append(Column(title, label_colors(prediction, palette)))
        return cols, None

    return _draw(args, frames, columns)


def _superpoints(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from seal_train.superpixels.preview import draw_superpixels, frame_folder
    from seal_train.superpixels.store import SuperpixelStore

    frames = _frames(args)
    store = SuperpixelStore(args.superpixels)
    out = args.out or Path("visualize-superpoints")
    for index in tqdm(args.frame, desc="visualize superpoints", unit="frame"):
        frame = frames[index]
        folder = frame_folder(out, frame.frame_id)
        if folder.exists() and any(folder.glob("*.png")) and not args.overwrite:
            raise ConfigError(f"{folder} holds pictures; pass --overwrite to replace them")
        cameras = None if args.cameras is None else _cameras(frame, args.cameras)
        for path in draw_superpixels(frame, store, folder, cameras, superpoint_cleanup(args)):
            print(f"wrote {path}")
    return 0
