"""``stylegan-t config RECIPE [overrides]``: print the resolved, validated recipe as YAML."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe YAML path or built-in name")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")


def run(args: argparse.Namespace) -> int:
    from ..training.recipe import RecipeError, load_recipe, recipe_to_yaml

    try:
        recipe = load_recipe(args.recipe, args.overrides)
    except RecipeError as err:
        raise SystemExit(f"stylegan-t config: {err}")
    print(recipe_to_yaml(recipe), end="")
    return 0
