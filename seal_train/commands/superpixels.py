"""``superpixels``: segment every camera image of a dataset once and cache the result.

Resumable (images already in the store are skipped; safe to kill), parallel over processes, and
sharded over machines with --shard I/N. --source masks imports what a VFM wrote beforehand, found
as <DIR>/<image_id>.png|.json (the image id's / kept as sub-folders; nuScenes: the camera
sample_data token). --preview N draws the first N images' segments and superpoints into
<out>/preview.

Examples:
    python -m seal_train superpixels --data drive/nuscenes --source slic --out sp/slic --workers 2
    python -m seal_train superpixels --data drive/nuscenes --source oracle --out sp/oracle
    python -m seal_train superpixels --data drive/nuscenes --source oracle-slic --out sp/cut
    python -m seal_train superpixels --data /data/nuscenes --source masks --masks seem_out \\
        --format panoptic --out sp/seem --preview 6
    python -m seal_train superpixels --data /data/nuscenes --source masks --masks sam_rle \\
        --format sam-rle --skip-missing --out sp/sam
    python -m seal_train superpixels --data /data/nuscenes --source sam \\
        --sam-checkpoint sam_vit_h_4b8939.pth --sam-set points_per_side=32 pred_iou_thresh=0.88
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from seal_ros.config_files import parse_overrides
from seal_ros.errors import ConfigError
from seal_train.sources.detect import open_source
from seal_train.superpixels.generate import generate
from seal_train.superpixels.imported import ImportedMasksSource, MaskFormat
from seal_train.superpixels.preview import write_previews
from seal_train.superpixels.sources import (
    SAM_MODELS,
    SOURCE_NAMES,
    SamSettings,
    SlicSource,
    SuperpixelSource,
    make_source,
)
from seal_train.superpixels.store import SuperpixelStore
from seal_train.superpixels.superpoints import SuperpointCleanup

_MASK_FLAGS = {"masks": "--masks", "skip_missing": "--skip-missing", "void_id": "--void-id",
               "components": "--components", "format": "--format"}
_SAM_FLAGS = {"sam_checkpoint": "--sam-checkpoint", "sam_model": "--sam-model",
              "sam_set": "--sam-set"}
_SLIC_FLAGS = {"slic_segments": "--slic-segments", "slic_compactness": "--slic-compactness",
               "slic_sigma": "--slic-sigma"}
_FLAG_SOURCES = ((_MASK_FLAGS, ("masks",)), (_SAM_FLAGS, ("sam", "sam-lidar")),
                 (_SLIC_FLAGS, ("slic", "oracle-slic")))
"""Source-specific flags (argparse dest -> flag) and the sources that read them."""


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="compute and cache superpixels", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset root or bag (any format `data inspect` reads)")
    parser.add_argument("--source", choices=SOURCE_NAMES, default="slic",
                        help="superpixel source (default slic)")
    parser.add_argument("--out", type=Path, default=None,
                        help="store folder (default: <data>/../superpixels-<source>)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes (default: all cores)")
    parser.add_argument("--shard", default="0/1", help="I/N: this process does frames I::N")
    parser.add_argument("--preview", type=int, default=0, metavar="N",
                        help="draw the first N images' segments and superpoints into "
                             "<out>/preview (default 0: none)")
    add_superpoint_arguments(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute everything, replacing a store made otherwise")
    slic = parser.add_argument_group("slic, oracle-slic")
    slic.add_argument("--slic-segments", type=int, default=None,
                      help=f"SLIC's target segment count (default {SlicSource.n_segments})")
    slic.add_argument("--slic-compactness", type=float, default=None,
                      help=f"default {SlicSource.compactness}")
    slic.add_argument("--slic-sigma", type=float, default=None, help=f"default {SlicSource.sigma}")
    masks = parser.add_argument_group("masks (imported VFM output)")
    masks.add_argument("--masks", type=Path, default=None, metavar="DIR",
                       help="folder of masks named <image_id>.png / .json")
    masks.add_argument("--format", choices=[f.value for f in MaskFormat], default=None,
                       help="instance-png (default), panoptic (COCO PNG + JSON), semantic-png "
                            "(class id per pixel), sam-rle (amg.py --convert-to-rle JSON)")
    masks.add_argument("--void-id", default=None, metavar="ID",
                       help="pixel value / panoptic id meaning no segment (default 0; 'none': "
                            "every value is a segment)")
    masks.add_argument("--components", action="store_true",
                       help="semantic-png: one segment per connected region of a class "
                            "(default: one per class)")
    masks.add_argument("--skip-missing", action="store_true",
                       help="skip (and count) images without mask files instead of failing")
    sam = parser.add_argument_group("sam, sam-lidar")
    sam.add_argument("--sam-checkpoint", type=Path, default=None, metavar="FILE",
                     help="SAM weights, e.g. sam_vit_h_4b8939.pth")
    sam.add_argument("--sam-model", choices=SAM_MODELS, default=None,
                     help="SAM model type of the checkpoint (default vit_h)")
    sam.add_argument("--sam-set", nargs="+", action="extend", default=None, metavar="KEY=VALUE",
                     help="mask generator options, values as YAML (e.g. points_per_side=16)")
    parser.set_defaults(run=run)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    return index, count


def parse_void_id(text: str | None) -> int | None:
    if text is None:
        return 0
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--void-id {text!r}: expected an integer or 'none'") from None


def build_source(args: argparse.Namespace) -> SuperpixelSource:
    """The source the flags ask for; flags of another source, or a missing one, are errors."""
    for flags, users in _FLAG_SOURCES:
        given = [flag for dest, flag in flags.items() if getattr(args, dest) not in (None, False)]
        if given and args.source not in users:
            raise ConfigError(f"{', '.join(given)} only apply to --source {' / '.join(users)}; "
                              f"--source is {args.source}")
    slic_args = {"n_segments": args.slic_segments, "compactness": args.slic_compactness,
                 "sigma": args.slic_sigma}
    slic = SlicSource(**{key: value for key, value in slic_args.items() if value is not None})
    masks = None
    if args.source == "masks":
        if args.masks is None:
            raise ConfigError("--source masks needs --masks DIR (the VFM's output) and --format")
        masks = ImportedMasksSource(args.masks, MaskFormat(args.format or "instance-png"),
                                    parse_void_id(args.void_id), args.components,
                                    args.skip_missing)
    options: dict[str, Any] = parse_overrides(args.sam_set or [])
    sam = SamSettings(args.sam_checkpoint, args.sam_model or "vit_h", options)
    return make_source(args.source, slic, setting="--source", masks=masks, sam=sam)


def add_superpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """The superpoint clean-up flags of the pictures (pretraining reads ``pairing.superpoints``)."""
    group = parser.add_argument_group("superpoints in the pictures")
    group.add_argument("--superpoint-depth-gap", type=float, default=0.0, metavar="M",
                       help="drop points farther than M metres from their segment's median "
                            "depth (default 0: off)")
    group.add_argument("--superpoint-min-points", type=int, default=0, metavar="N",
                       help="drop segments left with fewer than N points (default 0: off)")


def superpoint_cleanup(args: argparse.Namespace) -> SuperpointCleanup:
    return SuperpointCleanup(max_depth_gap_m=args.superpoint_depth_gap,
                             min_points=args.superpoint_min_points)


def run(args: argparse.Namespace) -> int:
    if args.preview < 0:
        raise ConfigError(f"--preview {args.preview}: expected a number of images >= 0")
    cleanup = superpoint_cleanup(args)
    source = build_source(args)
    shard = parse_shard(args.shard)
    out = args.out or args.data.resolve().parent / f"superpixels-{args.source}"
    frames = open_source(args.data)
    report = generate(frames, source, out, workers=max(args.workers, 1), shard=shard,
                      overwrite=args.overwrite)
    print(report.summary())
    if args.preview:
        pictures = write_previews(frames, SuperpixelStore(out), out / "preview", args.preview,
                                  range(shard[0], len(frames), shard[1]), cleanup)
        print(f"preview: {len(pictures)} pictures in {out / 'preview'}")
    return 0
