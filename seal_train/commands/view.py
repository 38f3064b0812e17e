"""``view``: the interactive viewer in the browser (viser), for a dataset and optionally a model.

Step through frames with the slider; colour by label, prediction, error, superpoint, intensity,
depth or similarity; click a point to colour every point by its feature similarity to the
clicked one (with a --checkpoint or --head). The camera panel shows the chosen image with the
projected points in the same colours. Binds 127.0.0.1 unless --host says otherwise; Ctrl-C stops.

Examples:
    python -m seal_train view --data drive/nuscenes
    python -m seal_train view --data drive/nuscenes --checkpoint runs/slic/last.pt \\
        --superpixels drive/superpixels-slic --port 8090
    python -m seal_train view --data drive/nuscenes --head runs/probe/probe.pt --split val
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from seal_ros.errors import ConfigError

if TYPE_CHECKING:
    from seal_train.engine.scoring import ScoredModel
    from seal_train.viewer import Viewer
    from seal_train.visualize.features import FeatureModel


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="interactive 3D viewer in the browser", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="dataset root or bag")
    parser.add_argument("--split", default="all", help="split of --data (default: all)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", metavar="PT|random",
                       help="pretraining checkpoint (similarity), fine-tuned checkpoint "
                            "(similarity + predictions), or 'random'")
    which.add_argument("--head", type=Path, help="probe.pt from `probe` (predictions)")
    parser.add_argument("--superpixels", type=Path, default=None, metavar="DIR",
                        help="superpixel store: colour by superpoint")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--point-size", type=float, default=0.08, help="metres (default 0.08)")
    parser.set_defaults(run=run)


def _models(args: argparse.Namespace) -> tuple[ScoredModel | None, FeatureModel | None]:
    from seal_train.visualize.features import (
        RANDOM,
        FeatureModel,
        load_feature_models,
        load_scored_model,
    )

    model = None
    if args.head is not None:
        model = load_scored_model(head=args.head)
    elif args.checkpoint is not None and args.checkpoint != RANDOM:
        try:
            model = load_scored_model(checkpoint=Path(args.checkpoint))
        except ConfigError as err:
            if "not a fine-tuned checkpoint" not in str(err):
                raise
    if model is not None:
        return model, FeatureModel(model.source.name, model.backbone, model.grid,
                                   model.features, model.device)
    if args.checkpoint is not None:
        return None, load_feature_models([args.checkpoint])[0]
    return None, None


def build_viewer(args: argparse.Namespace) -> Viewer:
    """The viewer the arguments describe (started, not blocking)."""
    from seal_train.engine.pretrain_config import DataConfig
    from seal_train.engine.scoring import open_frames
    from seal_train.superpixels.store import SuperpixelStore
    from seal_train.viewer import Viewer

    if not 0 <= args.port < 65536:
        raise ConfigError(f"--port {args.port}: expected 0..65535")
    model, backbone = _models(args)
    frames = open_frames(DataConfig(path=args.data), args.split)
    store = SuperpixelStore(args.superpixels) if args.superpixels is not None else None
    if store is not None and store.manifest() is None:
        raise ConfigError(f"--superpixels {args.superpixels}: not a superpixel store")
    return Viewer(frames, model, backbone, store, args.host, args.port, args.point_size)


def run(args: argparse.Namespace) -> int:
    viewer = build_viewer(args)
    print(f"viewer at {viewer.url} (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("stopping the viewer")
    finally:
        viewer.stop()
    return 0
