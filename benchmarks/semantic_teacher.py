"""A diagnostic image teacher that knows the synthetic drive's classes (trained with labels).

    .venv/bin/python benchmarks/semantic_teacher.py --drive DIR/drive/nuscenes \
        --out teacher.pth [--split train --val-split val --stage 2 --epochs 4]

No pretrained image weights ship with any package this project can install, so
``benchmarks/pretrain_quality.py`` runs with a random-weight teacher, whose features carry no
notion of class. This script makes the opposite extreme to test what superpixels do when the
teacher *does* know classes: the ResNet-50 trunk of :mod:`seal_train.teachers.resnet` (to
``--stage``, dilated to output stride 4) is trained from scratch as a pixel classifier on the
drive's camera images, supervised by the LiDAR labels projected into them (the pairs of
``seal_train.sources.project``; train split only). It writes the trunk as a torchvision-layout
state dict, so the pretraining benchmark loads it like any teacher file::

    benchmarks/pretrain_quality.py --sources slic oracle \
        --set teacher.weights=teacher.pth teacher.stage=2

It uses labels, so it is a diagnostic of the distillation, never a product teacher: a backbone
distilled from it is not label-free. Prints the teacher's own pixel accuracy and mIoU on the
projected labels of ``--val-split`` and writes the file's path at the end.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from seal_ros.core.metrics import ConfusionMatrix, SegmentationScores
from seal_ros.core.prediction import labels_from_logits
from seal_ros.labels import IGNORE_CLASS
from seal_train.sources.detect import open_split
from seal_train.sources.frame import project
from seal_train.teachers.resnet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    STAGE_DIMS,
    TRUNK_NAMES,
    build_resnet50_teacher,
)


@dataclass(frozen=True)
class LabelledImage:
    """One camera image with the training class of every pixel a labelled point projects to."""

    image: torch.Tensor  # (3, H, W) float32 in [0, 1]
    pixel: torch.Tensor  # (P,) int64 flat pixel index row * W + col
    label: torch.Tensor  # (P,) int64 training class >= 1


def labelled_images(root: Path, split: str) -> tuple[list[LabelledImage], tuple[str, ...]]:
    """Every camera image of the split with its projected point labels; and the class names."""
    images, names = [], ()
    for frame in open_split(root, split):
        pairs = project(frame)
        classes = frame.train_labels()[pairs.point_index]
        names = frame.label_map.class_names  # type: ignore[union-attr]
        for index, camera in enumerate(frame.cameras):
            keep = (pairs.camera_index == index) & (classes > 0)
            width = camera.image.shape[1]
            images.append(LabelledImage(
                image=torch.from_numpy(camera.image).permute(2, 0, 1).float() / 255.0,
                pixel=torch.from_numpy(pairs.row[keep] * width + pairs.col[keep]),
                label=torch.from_numpy(classes[keep])))
    if not images:
        raise SystemExit(f"{root} ({split}): no camera images")
    return images, names


class PixelClassifier(nn.Module):
    """Teacher trunk + 1x1 classifier; logits upsampled to the image and read at given pixels."""

    def __init__(self, stage: int, classes: int) -> None:
        super().__init__()
        self.trunk = build_resnet50_teacher(None, stage=stage).trunk
        for param in self.trunk.parameters():
            param.requires_grad_(True)
        self.classifier = nn.Conv2d(STAGE_DIMS[stage], classes, kernel_size=1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, classes, H, W) logits."""
        logits = self.classifier(self.trunk((images - self.mean) / self.std))
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear",
                             align_corners=False)


def _at_pixels(logits: torch.Tensor, batch: list[LabelledImage]
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (P, classes) and labels (P,) at the labelled pixels of a batch."""
    flat = logits.flatten(2)  # (B, C, H * W)
    rows = [flat[b].index_select(1, item.pixel).t() for b, item in enumerate(batch)]
    return torch.cat(rows), torch.cat([item.label for item in batch])


def train(model: PixelClassifier, images: list[LabelledImage], epochs: int, batch_size: int,
          lr: float, seed: int) -> float:
    """Cross-entropy on the labelled pixels; returns the last epoch's mean loss."""
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * -(-len(images) // batch_size)
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=lr, total_steps=steps)
    model.train()
    losses: list[float] = []
    with tqdm(total=steps, desc="teacher", unit="step") as bar:
        for _ in range(epochs):
            losses = []
            order = torch.randperm(len(images), generator=gen).tolist()
            for start in range(0, len(order), batch_size):
                batch = [images[i] for i in order[start:start + batch_size]]
                if torch.rand(1, generator=gen).item() < 0.5:  # flip: pixels move with it
                    batch = [_flipped(item) for item in batch]
                logits, labels = _at_pixels(model(torch.stack([b.image for b in batch])), batch)
                loss = F.cross_entropy(logits, labels)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                sched.step()
                losses.append(loss.item())
                bar.update()
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return float(np.mean(losses))


def _flipped(item: LabelledImage) -> LabelledImage:
    width = item.image.shape[-1]
    row, col = item.pixel // width, item.pixel % width
    return LabelledImage(item.image.flip(-1), row * width + (width - 1 - col), item.label)


@torch.no_grad()
def score(model: PixelClassifier, images: list[LabelledImage], names: tuple[str, ...]
          ) -> SegmentationScores:
    """The evaluation protocol's scores (IoU per class, mIoU, accuracy) on labelled pixels."""
    model.eval()
    matrix = ConfusionMatrix(len(names), ignore_id=IGNORE_CLASS)
    for start in range(0, len(images), 8):
        batch = images[start:start + 8]
        logits, labels = _at_pixels(model(torch.stack([b.image for b in batch])), batch)
        matrix.update(prediction=labels_from_logits(logits, ignore_id=IGNORE_CLASS)[0],
                      truth=labels)
    return matrix.scores(names)


def save_trunk(trunk: nn.Module, path: Path) -> None:
    """The trunk as a torchvision-layout ResNet-50 state dict (``conv1.weight``, ``layer1...``)."""
    state = {}
    for key, value in trunk.state_dict().items():
        index, _, rest = key.partition(".")
        state[f"{TRUNK_NAMES[int(index)]}.{rest}"] = value.clone()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drive", type=Path, required=True, help="nuScenes-format drive root")
    parser.add_argument("--split", default="train",
                        help="split name or scene-list file to train on (default: train)")
    parser.add_argument("--val-split", default="val",
                        help="split to score the teacher on (default: val; 'none' to skip)")
    parser.add_argument("--out", type=Path, required=True, help="state dict file to write")
    parser.add_argument("--stage", type=int, default=2, choices=sorted(STAGE_DIMS),
                        help="deepest ResNet-50 stage (as teacher.stage)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the trunk starts random: no warning wanted
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    images, names = labelled_images(args.drive, args.split)
    model = PixelClassifier(args.stage, len(names))
    loss = train(model, images, args.epochs, args.batch_size, args.lr, args.seed)
    train_s = time.perf_counter() - start
    print(f"\nteacher: ResNet-50 to layer{args.stage}, {len(images)} train images, "
          f"{args.epochs} epochs, last-epoch loss {loss:.3f}, {train_s / 60:.1f} min")
    scored = {"train": images}
    if args.val_split != "none":
        scored["val"] = labelled_images(args.drive, args.val_split)[0]
    for split_name, split_images in scored.items():
        scores = score(model, split_images, names)
        present = ~np.isnan(scores.iou)
        print(f"{split_name}: pixel accuracy {100 * scores.accuracy:.1f} %, mIoU "
              f"{100 * scores.miou:.1f} % over {int(present.sum())} classes; "
              + ", ".join(f"{name} {100 * iou:.0f}" for name, iou, ok
                          in zip(scores.class_names, scores.iou, present, strict=True) if ok))
    save_trunk(model.trunk, args.out)
    build_resnet50_teacher(args.out, stage=args.stage)  # loads as a teacher file, or raises
    print(f"wrote {args.out} (load with teacher.weights={args.out} teacher.stage={args.stage})")


if __name__ == "__main__":
    main()
