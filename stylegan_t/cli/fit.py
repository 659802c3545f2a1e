"""``stylegan-t fit RECIPE [section.key=value ...] [--resume CKPT|last]``."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML path or built-in name (e.g. lite-64, tiny-cpu)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. optim.batch_size=256")
    parser.add_argument("--resume", metavar="CKPT",
                        help="continue from a checkpoint; 'last' = the run's last.ckpt (if damaged: the newest "
                             "intact epoch checkpoint, with a warning)")


def run(args: argparse.Namespace) -> int:
    from ..training.checkpoint_io import resolve_resume
    from ..training.fit import fit, release_process_group
    from .checks import load_recipe_checked

    recipe = load_recipe_checked(args.recipe, args.overrides)
    resume = resolve_resume(args.resume, recipe.run.dir)  # checked before any model is built
    # fit checks run.dir (creating it) only after its preflight passed: a failed check leaves no run folder behind
    fit(recipe, resume=resume)
    release_process_group()
    return 0
