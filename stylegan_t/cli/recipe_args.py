"""The arguments every recipe command takes: the recipe, ``section.key=value`` overrides and ``--code``."""
from __future__ import annotations

import argparse


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="a built-in recipe name (e.g. lite-64, tiny-cpu) or a recipe YAML file; "
                                       "a file may start with 'base: NAME_OR_PATH' and override only what differs")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. optim.batch_size=256")
    parser.add_argument("--code", metavar="DIR", action="append", default=[],
                        help="a folder to import model.module from (put first on the import path; repeatable)")
