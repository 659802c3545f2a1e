"""``stylegan-t fit RECIPE [section.key=value ...] [--resume CKPT]``."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML path or built-in name (e.g. lite-64, tiny-cpu)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. optim.batch_size=256")
    parser.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint ('last' = the run's last.ckpt)")


def resolve_resume(resume: str | None, run_dir: str) -> str | None:
    from pathlib import Path

    if resume != "last":
        if resume and not Path(resume).exists():
            raise SystemExit(f"stylegan-t fit: --resume checkpoint not found: {resume}")
        return resume
    last = Path(run_dir) / "checkpoints" / "last.ckpt"
    if not last.exists():
        raise SystemExit(f"stylegan-t fit: --resume last, but {last} does not exist")
    return str(last)


def run(args: argparse.Namespace) -> int:
    from ..training.fit import fit
    from ..training.recipe import RecipeError, load_recipe

    try:
        recipe = load_recipe(args.recipe, args.overrides)
    except RecipeError as err:
        raise SystemExit(f"stylegan-t fit: {err}")
    fit(recipe, resume=resolve_resume(args.resume, recipe.run.dir))
    return 0
