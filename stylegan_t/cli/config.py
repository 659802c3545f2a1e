"""``stylegan-t config RECIPE [overrides] [--diff] [--check-files]``: print the resolved, validated recipe.

It runs the same checks as ``fit`` before any model is built (``--check-files`` adds the weights files and
local shards), so a recipe ``config`` accepts is one ``fit`` starts.
"""
from __future__ import annotations

import argparse

from .recipe_args import add_recipe_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_recipe_arguments(parser)
    parser.add_argument("--diff", action="store_true",
                        help="print only the keys that differ from the recipe's base (the schema defaults when it has none)")
    parser.add_argument("--check-files", action="store_true",
                        help="also check every pretrained weights file and local shard the run would read")


def run(args: argparse.Namespace) -> int:
    from ..training.preflight import check_recipe, preflight
    from ..training.recipe import recipe_to_yaml
    from .checks import check_local_clip_folders, load_recipe_checked

    recipe = load_recipe_checked(args.recipe, args.overrides)
    if args.check_files:
        check_local_clip_folders(recipe)
        preflight(recipe, code=args.code)
    else:
        check_recipe(recipe, code=args.code)
    if args.diff:
        print(recipe_diff(args.recipe, recipe), end="")
    else:
        print(recipe_to_yaml(recipe), end="")
    return 0


def recipe_diff(source: str, recipe) -> str:
    """``key: value  # base: old`` for every key that differs from the base recipe (or from the schema defaults)."""
    from ..training.recipe import Recipe, load_recipe, recipe_to_dict
    from ..training.recipe_files import base_of, flat_differences

    base = base_of(source)
    rows = flat_differences(recipe_to_dict(load_recipe(base[1]) if base else Recipe()), recipe_to_dict(recipe))
    title = f"# {source}: {len(rows)} key(s) differ from " + (f"its base '{base[0]}'" if base else "the schema defaults")
    return "\n".join([title, *(f"{key}: {_show(new)}  # base: {_show(old)}" for key, old, new in rows)]) + "\n"


def _show(value) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value
