"""Linear probing: how well a frozen backbone's features separate classes (SLidR's protocol).

The backbone stays in eval mode (BatchNorm statistics frozen) and only a linear head trains. Since
the backbone never changes, its features are computed once per training frame (a seeded sample of
labelled points per frame) and the head trains on that cache; evaluation runs the backbone on every
validation frame at full resolution with one confusion matrix over the split.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from seal_ros.core.metrics import SegmentationScores
from seal_ros.errors import ConfigError
from seal_ros.torch_files import load_torch_file, save_torch_file
from seal_train.config import from_dict, save_config, to_dict
from seal_train.engine.checkpoint import load_checkpoint
from seal_train.engine.pretrain_config import DataConfig, Device, ModelConfig, PretrainConfig
from seal_train.engine.scoring import ScoredModel, evaluate_frames, open_frames, point_features
from seal_train.evaluation import write_report
from seal_train.models import MinkUNet, VoxelGrid, build_backbone, build_grid, resolve_device
from seal_train.visualize.report import write_run_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeConfig:
    checkpoint: Path | None = None  # pretraining checkpoint; None = randomly initialised backbone
    out_dir: Path = Path("runs/probe")  # probe head, resolved config, scores.md and PNGs
    data: DataConfig = field(default_factory=DataConfig)  # data.path None = the synthetic drive
    train_split: str = "train"  # split name or list file, as data.split of pretraining
    val_split: str = "val"  # scored split; the synthetic drive's val is its last scene
    seed: int = 0
    device: Device = Device.AUTO  # auto | cpu | cuda
    points_per_frame: int = 8192  # labelled training points sampled per frame for the cache
    epochs: int = 60  # passes of the head over the cached features
    batch_points: int = 65536
    lr: float = 0.01  # Adam
    model: ModelConfig = field(default_factory=ModelConfig)  # used without a checkpoint
    point_features: tuple[str, ...] = ("intensity",)  # used without a checkpoint


@dataclass(frozen=True)
class ProbeResult:
    scores: SegmentationScores
    head_path: Path
    report: list[Path]
    seconds: float
    held_out: bool  # scored on frames the head never trained on (the splits share no frame)


def backbone_from_checkpoint(path: Path, payload: dict[str, Any] | None = None
                             ) -> tuple[MinkUNet, ModelConfig, tuple[str, ...]]:
    """The backbone of a pretraining or fine-tuning checkpoint (``backbone.*`` weights), its
    model record and point features, as the checkpoint's config states them."""
    if payload is None:
        _, payload = load_checkpoint(path)
    config = payload.get("config")
    if not config:
        raise ConfigError(f"checkpoint {path}: has no config to rebuild the model")
    if "pairing" in config:  # pretraining
        pre = from_dict(PretrainConfig, config)
        model_cfg, features = pre.model, tuple(pre.pairing.point_features)
    elif config.get("model") and config.get("point_features"):  # fine-tuning: resolved record
        model_cfg = from_dict(ModelConfig, config["model"])
        features = tuple(str(f) for f in config["point_features"])
    else:
        raise ConfigError(f"checkpoint {path}: its config names no model and point features")
    backbone = build_backbone(model_cfg, len(features))
    state = {k[len("backbone."):]: v for k, v in payload["model"].items()
             if k.startswith("backbone.")}
    try:
        backbone.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ConfigError(f"checkpoint {path}: backbone weights do not fit "
                          f"{model_cfg.backbone} (width {model_cfg.width}): {err}") from err
    return backbone, model_cfg, features


def load_backbone(cfg: ProbeConfig, device: torch.device
                  ) -> tuple[MinkUNet, VoxelGrid, tuple[str, ...]]:
    """The frozen backbone: from a pretraining checkpoint, or random (seeded) without one."""
    if cfg.checkpoint is None:
        torch.manual_seed(cfg.seed)
        model_cfg, features = cfg.model, tuple(cfg.point_features)
        backbone = build_backbone(model_cfg, len(features))
        log.info("backbone: a randomly initialised %s", model_cfg.backbone)
    else:
        backbone, model_cfg, features = backbone_from_checkpoint(cfg.checkpoint)
        log.info("backbone: from %s", cfg.checkpoint)
    return backbone.to(device).eval(), build_grid(model_cfg), features


def load_probe(head_path: Path, data: Path | None = None) -> ScoredModel:
    """A probe head file with its backbone, ready to score; ``data`` replaces the dataset path
    it was trained on."""
    saved = load_torch_file(head_path, "head", ConfigError)
    if not isinstance(saved, dict) or "head" not in saved:
        raise ConfigError(f"{head_path}: not a probe head (no 'head' entry); a fine-tuned "
                          f"checkpoint is scored with --checkpoint")
    cfg = from_dict(ProbeConfig, saved["config"])
    if data is not None:
        cfg = from_dict(ProbeConfig, {**to_dict(cfg), "data": {**to_dict(cfg.data),
                                                                "path": str(data)}})
    device = resolve_device(cfg.device)
    backbone, grid, features = load_backbone(cfg, device)
    class_names = tuple(saved["class_names"])
    head = nn.Linear(saved["head"]["weight"].shape[1], len(class_names)).to(device)
    head.load_state_dict(saved["head"])
    return ScoredModel(Path(head_path), backbone, grid, features, head.eval(), class_names,
                       cfg.data, device)


def evaluate(head_path: Path, data: Path | None, split: str, out_dir: Path
             ) -> tuple[SegmentationScores, list[Path]]:
    """Score a probe head file on a split and write the report."""
    model = load_probe(head_path, data)
    scores = model.score(model.frames(split))
    return scores, write_report(scores, out_dir, f"Evaluation of {head_path} on {split}")


def probe(cfg: ProbeConfig) -> ProbeResult:
    start = time.perf_counter()
    device = resolve_device(cfg.device)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.yaml")
    backbone, grid, features = load_backbone(cfg, device)
    train = open_frames(cfg.data, cfg.train_split, load_images=False)
    val = open_frames(cfg.data, cfg.val_split, load_images=False)
    held_out = not set(train.frame_ids) & set(val.frame_ids)
    if not held_out:
        from seal_train.sources.rosbag import RosbagSource

        log.warning("probe: the head is scored on frames it trains on (train_split %r, val_split "
                    "%r%s): the mIoU is not a held-out figure", cfg.train_split, cfg.val_split,
                    "; a bag has no splits" if isinstance(train, RosbagSource) else "")

    rng = np.random.default_rng(cfg.seed)
    cached_x, cached_y = [], []
    label_map = None
    for frame in tqdm(train, desc="probe: cache features", unit="frame"):
        labels = frame.train_labels()
        label_map = frame.label_map
        labelled = np.flatnonzero(labels != 0)
        take = rng.choice(labelled, min(cfg.points_per_frame, len(labelled)), replace=False)
        feats = point_features(backbone, grid, frame, features, device)
        cached_x.append(feats[torch.from_numpy(take).to(device)])
        cached_y.append(torch.from_numpy(labels[take]).to(device))
    if label_map is None:
        raise ConfigError("probe: the training split has no labelled frames")
    x, y = torch.cat(cached_x), torch.cat(cached_y)
    num_outputs = len(label_map.class_names)
    torch.manual_seed(cfg.seed)
    head = nn.Linear(x.shape[1], num_outputs).to(device)
    optimizer = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    for _ in tqdm(range(cfg.epochs), desc="probe: train head", unit="epoch"):
        order = torch.randperm(len(x), generator=gen).to(device)
        for chunk in order.split(cfg.batch_points):
            loss = F.cross_entropy(head(x[chunk]), y[chunk], ignore_index=0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    scores = evaluate_frames(backbone, grid, features, head, val, label_map.class_names, device)
    head_path = out / "probe.pt"
    save_torch_file({"head": head.state_dict(), "class_names": list(label_map.class_names),
                     "checkpoint": str(cfg.checkpoint) if cfg.checkpoint else None,
                     "config": to_dict(cfg)}, head_path)
    title = f"Linear probe of {cfg.checkpoint or 'a random-init backbone'}"
    report = write_report(scores, out, title)
    report.append(write_run_report(out, title=title, overwrite=True))
    return ProbeResult(scores, head_path, report, time.perf_counter() - start, held_out)
