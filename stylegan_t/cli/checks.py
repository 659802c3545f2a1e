"""Argument checks every command runs before loading a model: device, truncation, seeds, output paths.

Each raises :class:`stylegan_t.errors.UserError` with one line naming the option and what is valid, so a
bad argument costs nothing (no model built, nothing generated) and never prints a traceback.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import UserError


def finite_float(text: str) -> float:
    """argparse ``type=``: a finite float (``nan`` / ``inf`` are refused with the value named)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def check_device(device: str | None, option: str = "--device") -> None:
    """A parseable torch device that exists here (``cuda`` needs a visible GPU, ``cuda:N`` that many)."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise UserError(f"{option} {device!r} is not a device ({err}); use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"{option} {device!r}: no CUDA GPU is available here; use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise UserError(f"{option} {device!r}: only {count} CUDA GPU(s) visible (cuda:0..cuda:{count - 1})")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UserError(f"{option} {device!r}: MPS is not available here; use --device cpu")


def load_recipe_checked(source: str, overrides: list[str] | None = None):
    """:func:`load_recipe`, with a malformed YAML file reported as a :class:`RecipeError` naming file, line and column."""
    import yaml

    from ..errors import RecipeError
    from ..training.recipe import load_recipe

    try:
        return load_recipe(source, overrides)
    except yaml.YAMLError as err:
        raise RecipeError(f"recipe '{source}' is not valid YAML: {describe_yaml_error(err)}") from err


def describe_yaml_error(err: Exception) -> str:
    """``"found duplicate key a (line 2, column 1)"`` from a PyYAML error."""
    problem = getattr(err, "problem", None)
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if not problem:
        return " ".join(str(err).split())
    context = getattr(err, "context", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{context + ': ' if context else ''}{problem}{where}"


def check_override_keys(recipe: str, overrides: list[str]) -> None:
    """Unknown keys and wrong types in ``overrides`` for built-in ``recipe``, found in milliseconds (commands
    that prepare data before loading their recipe call this first); range checks come with the full load."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from ..errors import RecipeError
    from ..training.recipe import Recipe, describe_config_error
    from ..training.recipe_files import merged_recipe_file

    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise RecipeError(f"overrides must look like section.key=value, got {bad}")
    try:
        OmegaConf.merge(OmegaConf.structured(Recipe), merged_recipe_file(recipe), OmegaConf.from_dotlist(overrides))
    except OmegaConfBaseException as err:
        raise RecipeError(f"invalid recipe override: {describe_config_error(err)}") from None


def check_local_clip_folders(recipe) -> None:
    """Every ``local-dir:`` CLIP the recipe reads exists, or one line saying how to make it (``pretrain-clip``).

    Runs before the weights preflight, whose message is about downloading weights: a ``local-dir:`` folder of
    a recipe such as ``own-data-cpu`` is one that ``stylegan-t pretrain-clip`` writes, not a download.
    """
    from ..errors import MissingWeightsError

    uses = [("model.generator.text_encoder.model", recipe.model.generator.text_encoder.model)]
    for key, feature in recipe.model.discriminator.feature_networks().items():
        if feature.kind == "open_clip":
            uses.append((f"{key}.model", feature.model))
    if recipe.loss.clip_weight > 0:
        uses.append(("loss.clip_model", recipe.loss.clip_model))
    for key, model in uses:
        if isinstance(model, str) and model.startswith("local-dir:"):
            folder = Path(model.removeprefix("local-dir:")).expanduser()
            if not (folder / "open_clip_config.json").is_file():
                urls = recipe.data.urls if isinstance(recipe.data.urls, str) else "SHARDS"
                raise MissingWeightsError(
                    f"{key}: no CLIP in '{folder}' yet; make it first with `stylegan-t pretrain-clip {urls} {folder}` "
                    f"(docs/own-data.md), or set {key}=local-dir:FOLDER")
