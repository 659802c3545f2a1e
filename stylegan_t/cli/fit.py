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
    from ..training.fit import fit, release_process_group
    from .checks import check_local_clip_folders, load_recipe_checked

    recipe = load_recipe_checked(args.recipe, args.overrides)
    check_local_clip_folders(recipe)  # a folder pretrain-clip writes: say so, not "download ViT-L/14"
    fit(recipe, code=args.code, resume=args.resume)  # every check runs before anything is built or written
    release_process_group()
    return 0
