"""``benchmark``: collect probe, fine-tuning and robustness runs into one results table.

The papers' layout: one row per pretraining (random init included), columns LP and the
fine-tuning label ratios (1 / 5 / 10 / 25 / 100 %), then mCE and mRR when the runs hold
``evaluate --corruption`` results. Every cell links to its run folder and config. Writes
results.md and results.png (grouped bars) into --out.

Examples:
    python -m seal_train benchmark runs/
    python -m seal_train benchmark runs/probe runs/ft-* --out runs/table
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    parser = sub.add_parser(name, help="one results table from many runs", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR",
                        help="run folders, or folders holding them (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmark"),
                        help="where results.md and results.png go (default runs/benchmark)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from seal_train.evaluation.results_table import collect_runs, write_results

    runs = collect_runs(args.runs)
    text, written = write_results(runs, args.out)
    print(text)
    print(f"{len(runs)} runs collected")
    for path in written:
        print(f"wrote {path}")
    return 0
