"""Reload what ``fit`` trained: the whole LightningModule, or its discriminator, from a training checkpoint.

The class is the one the caller names (``module=``, default the stock :class:`StyleGANT`); the checkpoint's
recorded class must match it and is never imported from the file. Frozen networks are rebuilt from their
references and checked; the guidance CLIP is not built (reloading does not train).
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..persistence.checkpoint import read_training_checkpoint, verify_frozen
from ..persistence.formats import CHECKPOINT_META, FROZEN, HYPER_PARAMETERS, STATE_DICT
from ..persistence.strict import CheckpointLoadError, load_state_strict
from .module_class import check_recorded_module, class_path, import_module_class
from .recipe import load_recipe

if TYPE_CHECKING:
    from .module import StyleGANT


def load_module(
    checkpoint: str | os.PathLike,
    *,
    module: str | type | None = None,
    code: Iterable[str | Path] | None = None,
    device: str | torch.device = "cpu",
) -> StyleGANT:
    """The eval-mode LightningModule of a training checkpoint (G, its EMA and D with their trained weights)."""
    from .module_class import STOCK_MODULE

    ckpt = read_training_checkpoint(checkpoint, mmap=True)
    meta = ckpt[CHECKPOINT_META]
    cls = import_module_class(module if module is not None else STOCK_MODULE, code=code, key="module")
    check_recorded_module(meta.get("module"), class_path(cls), source=f"checkpoint '{checkpoint}'")
    try:
        recipe = load_recipe(dict(ckpt[HYPER_PARAMETERS]["recipe"]))
    except (KeyError, TypeError):
        raise CheckpointLoadError(f"'{checkpoint}': no hyper_parameters.recipe (not written by `stylegan-t fit`)") from None
    # Reloading builds what holds trained weights: no guidance CLIP, no init_from (the weights come from here).
    recipe = dataclasses.replace(recipe, loss=dataclasses.replace(recipe.loss, clip_weight=0.0),
                                 model=dataclasses.replace(recipe.model, init_from=None))
    model = cls(recipe)
    stored: dict[str, Any] = meta.get(FROZEN, {})
    current = model.frozen_references()
    verify_frozen({k: v for k, v in stored.items() if k in current or not k.startswith("clip_guidance")}, current,
                  source=f"checkpoint '{checkpoint}'")
    state = {k: v for k, v in ckpt.get(STATE_DICT, {}).items() if not k.startswith("clip_guidance.")}
    if any(k.startswith("generator.mapping.text_encoder.") for k in state):
        model.keep_tower_by_value()  # the checkpoint stores the trained towers' own weights
    load_state_strict(model, state, source=str(checkpoint), by_reference=list(model.frozen_networks()))
    model.images_seen = int(meta.get("images_seen", 0))
    return model.to(device).eval()


def load_discriminator(
    path: str | os.PathLike,
    *,
    module: str | type | None = None,
    code: Iterable[str | Path] | None = None,
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """The trained discriminator of a fit checkpoint (built by ``module``'s ``build_discriminator``) or of a
    :meth:`ProjectedDiscriminator.save_pretrained` folder (the stock class; a subclass's folder is read with
    ``MyD.from_pretrained``), in eval mode. Its text input ``c`` is the generator's text encoding:
    ``G.mapping.encode_text(captions)``."""
    path = Path(path)
    if path.is_dir():
        from ..models.discriminator import ProjectedDiscriminator

        return ProjectedDiscriminator.from_pretrained(path, device=device)
    return load_module(path, module=module, code=code, device=device).discriminator
