"""One module per command; each exposes ``add_parser(subparsers, name)`` setting ``run``."""

from __future__ import annotations

from types import ModuleType

from seal_train.commands import (
    benchmark,
    data,
    evaluate,
    export,
    finetune,
    pretrain,
    probe,
    segments,
    superpixels,
    synth,
    view,
    visualize,
)

COMMANDS: dict[str, ModuleType] = {
    "synth": synth,
    "data": data,
    "superpixels": superpixels,
    "segments": segments,
    "pretrain": pretrain,
    "probe": probe,
    "finetune": finetune,
    "evaluate": evaluate,
    "export": export,
    "benchmark": benchmark,
    "visualize": visualize,
    "view": view,
}
