"""Training with Lightning: the StyleGANT module, data module, EMA, callbacks and recipes.

Names are imported on first use, so ``import stylegan_t.training.ema`` does not pull in Lightning.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "GeneratorEMA": ".ema",
    "ema_beta": ".step_math",
    "Recipe": ".recipe",
    "RecipeError": ".recipe",
    "load_recipe": ".recipe",
    "recipe_to_dict": ".recipe",
    "recipe_to_yaml": ".recipe",
    "StyleGANT": ".module",
    "fit": ".fit",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
