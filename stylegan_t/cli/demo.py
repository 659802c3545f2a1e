"""``stylegan-t demo [--out DIR] [--layout positions|centered] [--quick] [section.key=value ...]``."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", help="recipe overrides for the demo recipe, e.g. run.total_kimg=20")
    parser.add_argument("--out", default="runs/demo", help="run folder (data, samples, checkpoints, report)")
    parser.add_argument(
        "--layout", default="positions", choices=["positions", "centered"],
        help="positions: five places, named in half of the captions; centered: large shapes near the middle",
    )
    parser.add_argument("--quick", action="store_true", help="a CI-sized run: a few iterations, same pipeline")


def run(args: argparse.Namespace) -> int:
    from ..demo.run import run_demo
    from ..utils.files import check_writable_dir
    from .checks import check_override_keys

    check_override_keys("demo", args.overrides)  # before any data is drawn or model built
    check_writable_dir(args.out, option="--out")
    run_demo(out_dir=args.out, quick=args.quick, overrides=args.overrides, layout=args.layout)  # RecipeError: main
    return 0
