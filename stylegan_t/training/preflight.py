"""Checks before anything expensive: the recipe, the architectures it names, every pretrained weights file
and the local shard files. ``stylegan-t config`` runs :func:`check_recipe` (no files); ``fit`` and
``config --check-files`` run :func:`preflight` before any model is built.

Pretrained networks (paper Sec. 3: CLIP ViT-L/14 text encoder, DINO ViT-S/16 feature network, CLIP for
guidance; Sec. 4: Inception and CLIP for metrics) must be local files or explicitly ``random``. All missing
files are reported together in one :class:`~stylegan_t.errors.MissingWeightsError`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingWeightsError, RecipeError
from ..models.discriminator.feature_networks import resolve_feature_weights
from ..models.open_clip_loader import is_known_architecture, resolve_pretrained
from .module_class import import_module_class
from .recipe import Recipe
from .weight_checks import check_weight_contents

if TYPE_CHECKING:
    from .module import StyleGANT


def open_clip_networks(recipe: Recipe) -> Iterator[tuple[str, str, str, str | None]]:
    """``(model key, weights key, open_clip model, pretrained)`` of every open_clip network the recipe builds."""
    te = recipe.model.generator.text_encoder
    if te.model:
        yield "model.generator.text_encoder.model", "model.generator.text_encoder.pretrained", te.model, te.pretrained
    for key, fn in recipe.model.discriminator.feature_networks().items():
        if fn.kind == "open_clip":
            yield f"{key}.model", f"{key}.weights", fn.model, fn.weights
    if recipe.loss.clip_weight > 0:
        yield "loss.clip_model", "loss.clip_pretrained", recipe.loss.clip_model, recipe.loss.clip_pretrained
    ev = recipe.eval
    if ev.every_kimg is not None and ev.clip_model:
        yield "eval.clip_model", "eval.clip_pretrained", ev.clip_model, ev.clip_pretrained


def check_architectures(recipe: Recipe) -> None:
    """Every open_clip and timm architecture the recipe names exists (RecipeError naming the key otherwise)."""
    for key, _, model, _ in open_clip_networks(recipe):
        if not is_known_architecture(model):
            raise RecipeError(
                f"{key}: {model!r} is not an open_clip architecture (see open_clip.list_models(); OpenAI weights "
                "use e.g. 'ViT-L-14-quickgelu') nor 'local-dir:<folder>'"
            )
    for key, fn in recipe.model.discriminator.feature_networks().items():
        if fn.kind == "vit":
            import timm

            if not timm.is_model(fn.model):
                raise RecipeError(f"{key}.model: {fn.model!r} is not a timm architecture "
                                  "(the paper's is 'vit_small_patch16_224.dino')")


def _weight_checks(recipe: Recipe) -> Iterator[tuple[str, Callable[[], Any]]]:
    """``(recipe key, resolver)`` for every pretrained weights file; each resolver raises MissingWeightsError."""
    for _, key, model, pretrained in open_clip_networks(recipe):
        yield key, lambda model=model, pretrained=pretrained: resolve_pretrained(model, pretrained)
    for key, fn in recipe.model.discriminator.feature_networks().items():
        if fn.kind in ("vit", "conv"):
            yield f"{key}.weights", lambda fn=fn, key=key: resolve_feature_weights(fn.weights, key=f"{key}.weights")
    ev = recipe.eval
    if ev.every_kimg is not None and ev.fid:
        yield "eval.inception_weights", lambda: _inception_file(ev.inception_weights)


def _inception_file(path: str | None) -> Path:
    from ..metrics.fid import _HOW_TO_GET_INCEPTION, INCEPTION_WEIGHTS_FILE, default_inception_path
    from ..utils.local_files import require_local_file

    target = Path(path) if path else default_inception_path()
    return require_local_file(target, what=f"FID Inception ({INCEPTION_WEIGHTS_FILE})", how=_HOW_TO_GET_INCEPTION)


def recipe_weight_files(recipe: Recipe) -> dict[str, Callable[[], Any]]:
    """``{recipe key: resolver}`` of the weights files the stock module loads for this recipe."""
    return dict(_weight_checks(recipe))


def check_pretrained_files(recipe: Recipe, module_class: type[StyleGANT] | None = None) -> None:
    """Every pretrained file the module loads (``module_class.pretrained_files``, default the stock module's) is a
    local file or explicitly ``random``; else ONE MissingWeightsError naming each missing file, where it was
    looked for and how to get it."""
    files = module_class.pretrained_files(recipe) if module_class is not None else recipe_weight_files(recipe)
    missing: dict[str, list[str]] = {}  # message -> the recipe keys it is about (one file can serve several)
    for key, resolve in files.items():
        try:
            resolve()
        except MissingWeightsError as err:
            text = " ".join(str(err).split()).removeprefix(f"{key}: ")
            missing.setdefault(text, []).append(key)
    if not missing:
        return
    where = [f"{_looked_for(text)} ({', '.join(keys)})" for text, keys in missing.items()]
    count = f"{len(missing)} pretrained weights files are" if len(missing) > 1 else "a pretrained weights file is"
    raise MissingWeightsError(
        f"{count} missing: {'; '.join(where)}; how to get each: below and docs/weights.md",
        details=[f"({i}) {', '.join(keys)}: {text}" for i, (text, keys) in enumerate(missing.items(), 1)],
    )


def _looked_for(message: str) -> str:
    """The file a missing-weights message names (``looked for PATH``), else what it says is wrong."""
    import re

    match = re.search(r"looked for '?(\S+)", message)
    if match:
        return match.group(1).rstrip(".,;'")
    return message.split(":", 1)[0][:100]


def _local_shards_missing(urls: Any) -> tuple[list[str], int]:
    """(missing local shard files, number of shards named) for one ``urls`` value; remote ones are not checked."""
    from ..data.sources import expand_urls, is_image_folder, is_local_path

    if is_image_folder(urls):
        return [], 1
    shards = expand_urls(urls)
    return [s for s in shards if is_local_path(s) and not os.path.isfile(s)], len(shards)


def check_shard_files(recipe: Recipe) -> None:
    """Local shard files named by ``data.urls`` / ``data.sources`` exist (brace patterns expanded; ``pipe:`` and
    URLs are not checked): RecipeError naming the key, how many are missing and the first one."""
    data = recipe.data
    named = [(f"data.sources[{i}].urls", s.urls) for i, s in enumerate(data.sources)] or [("data.urls", data.urls)]
    for key, urls in named:
        if urls is None:
            raise RecipeError(f"{key} is not set: point it at your shards (a folder, a brace pattern, a list; docs/data.md)")
        missing, total = _local_shards_missing(urls)
        if total == 0:
            raise RecipeError(f"{key}: no shards found for {urls!r} (an empty folder or a glob that matches nothing)")
        if missing:
            raise RecipeError(f"{key}: {len(missing)} of {total} local shard files are missing, e.g. '{missing[0]}' (from {urls!r})")


def check_trainer_extra(recipe: Recipe) -> None:
    """``trainer.extra`` holds only ``lightning.Trainer`` arguments (RecipeError naming an unknown one)."""
    import inspect

    import lightning as L

    valid = set(inspect.signature(L.Trainer.__init__).parameters) - {"self"}
    unknown = sorted(set(recipe.trainer.extra) - valid)
    if unknown:
        raise RecipeError(f"trainer.extra.{unknown[0]} is not a lightning.Trainer argument (unknown: {unknown})")


def check_recipe(recipe: Recipe, *, module: str | type | None = None, code: Iterable[str | Path] | None = None) -> type[StyleGANT]:
    """Every check that needs no files, the same for ``stylegan-t config`` and ``fit``: the recipe's values, the
    Trainer arguments, the architectures it names and the LightningModule class (``module`` overrides
    ``model.module``; ``code``: folders put on the import path first). Returns that class."""
    recipe.validate()
    check_trainer_extra(recipe)
    check_architectures(recipe)
    return import_module_class(module if module is not None else recipe.model.module, code=code)


def preflight(recipe: Recipe, *, module: str | type | None = None, code: Iterable[str | Path] | None = None,
              check_data: bool = True) -> type[StyleGANT]:
    """All checks before training, cheapest first (:func:`check_recipe`, then the module's weights files: present,
    then holding what the architectures ask for; then the local shards); raises a
    :class:`~stylegan_t.errors.UserError` subclass. Returns the module class."""
    from .module import StyleGANT

    module_class = check_recipe(recipe, module=module, code=code)
    files = module_class.pretrained_files(recipe)
    check_pretrained_files(recipe, module_class)
    # what the files hold fits the architectures (cheap reads, meta-device models); a subclass's own networks are its own
    check_weight_contents(recipe, keys=set(files), stock_module=module_class is StyleGANT)
    if check_data:
        check_shard_files(recipe)
    return module_class
