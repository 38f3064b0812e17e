"""Write one synthetic drive in several dataset formats, rendering each scene only once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from seal_train.synth.drive import SynthConfig, generate_scene

log = logging.getLogger(__name__)

OUTPUT_DIRS = {"nuscenes": "nuscenes", "kitti": "kitti", "rosbag": "rosbag"}


def write_drive(out: Path, scenes: int = 2, frames: int = 40, seed: int = 0,
                formats: Sequence[str] = ("nuscenes", "kitti", "rosbag"), storage: str = "mcap",
                overwrite: bool = False, config: SynthConfig | None = None) -> dict[str, Path]:
    """Render ``scenes`` x ``frames`` and write them under ``out/<format>``; returns the paths.

    All scenes are held in memory until written (about 2 MB per frame at the default image size).
    """
    from seal_train.synth.kitti_writer import write_kitti
    from seal_train.synth.nuscenes_writer import write_nuscenes
    from seal_train.synth.rosbag_writer import write_rosbag

    config = replace(config or SynthConfig(), scenes=scenes, frames=frames, seed=seed)
    rendered = [generate_scene(config, index)
                for index in tqdm(range(scenes), desc="render scenes", unit="scene")]
    out = Path(out)
    outputs: dict[str, Path] = {}
    for fmt in tqdm(formats, desc="write formats", unit="format"):
        target = out / OUTPUT_DIRS[fmt]
        if fmt == "nuscenes":
            outputs[fmt] = Path(write_nuscenes(rendered, target, overwrite=overwrite))
        elif fmt == "kitti":
            outputs[fmt] = Path(write_kitti(rendered, target, overwrite=overwrite))
        elif fmt == "rosbag":
            written = write_rosbag(rendered, target, storage=storage, overwrite=overwrite)
            outputs[fmt] = target if isinstance(written, list) else Path(written)
        log.info("wrote %s to %s", fmt, outputs[fmt])
    return outputs
