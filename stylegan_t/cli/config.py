"""``stylegan-t config RECIPE [overrides]``: print the resolved, validated recipe as YAML."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML path or built-in name")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")


def run(args: argparse.Namespace) -> int:
    from ..training.recipe import recipe_to_yaml
    from .checks import load_recipe_checked

    print(recipe_to_yaml(load_recipe_checked(args.recipe, args.overrides)), end="")
    return 0
