"""``stylegan-t fit RECIPE [section.key=value ...] [--resume CKPT|last] [--code DIR]``."""
from __future__ import annotations

import argparse

from .recipe_args import add_recipe_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_recipe_arguments(parser)
    parser.add_argument("--resume", metavar="CKPT",
                        help="continue from a checkpoint; 'last' = the run's last.ckpt (if damaged: the newest "
                             "intact epoch checkpoint, with a warning)")


def run(args: argparse.Namespace) -> int:
    from ..clip_pretraining.readiness import format_readiness
    from ..training.fit import fit, release_process_group
    from .checks import check_local_clip_folders, load_recipe_checked

    recipe = load_recipe_checked(args.recipe, args.overrides)
    check_local_clip_folders(recipe)  # a folder pretrain-clip writes: say so, not "download ViT-L/14"
    report = clip_readiness(recipe)
    if report and any(r.warnings() for r in report):  # before the training time is spent
        print(format_readiness(report), flush=True)
    fit(recipe, code=args.code, resume=args.resume)  # every check runs before anything is built or written
    release_process_group()
    if report:
        print(format_readiness(report))
    return 0


def clip_readiness(recipe):
    """The readiness report ``pretrain-clip --attribute`` saved with the recipe's text encoder, if any."""
    from ..clip_pretraining.readiness import load_readiness

    model = recipe.model.generator.text_encoder.model or ""
    return load_readiness(model) if model.startswith("local-dir:") else None
