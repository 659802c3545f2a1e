"""A ``stylegan-t fit`` training checkpoint from converted networks (G, G_ema, D), to continue an original run.

The checkpoint is what a ``StyleGANT`` module built from the recipe would save at ``images_seen`` (the
snapshot's kimg): its ``state_dict`` with the converted weights, fresh Adam states (the original's snapshots
hold none), the recipe as hyper-parameters. ``stylegan-t fit RECIPE --resume CKPT`` and ``model.init_from``
read it like any other training checkpoint.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..models.discriminator import ProjectedDiscriminator
from ..models.generator import TRAIN_MODES, Generator
from .generator import load_state_dict_strict


def snapshot_recipe(base: str | Path, G: Generator, D: ProjectedDiscriminator, *, train_mode: str | None = None,
                    feature_weights: Path | None = None):
    """``base`` recipe (name or file) with ``model`` set to the converted networks' configurations.

    ``feature_weights``: the file holding the discriminator's feature-network weights (written by the caller).
    """
    from ..training.recipe import load_recipe, recipe_to_dict

    data = recipe_to_dict(load_recipe(base))
    disc = dataclasses.asdict(D.config)
    if feature_weights is not None:
        disc["feature_network"]["weights"] = str(feature_weights)
    data["model"]["generator"] = G.config.to_dict()
    data["model"]["discriminator"] = disc
    data["model"]["init_from"] = None
    if train_mode in TRAIN_MODES:
        data["model"]["train_mode"] = train_mode
    return load_recipe(data)


def training_checkpoint(recipe: Any, *, G: Generator, G_ema: Generator, D: ProjectedDiscriminator,
                        images_seen: int = 0) -> dict[str, Any]:
    """The checkpoint dict (Lightning layout) of a ``StyleGANT`` built from ``recipe`` holding G, G_ema and D."""
    import lightning

    from ..training.module import CHECKPOINT_KIND, StyleGANT

    model = StyleGANT(recipe)
    from ..persistence import settle_tower_reference

    load_state_dict_strict(model.generator, G.state_dict(), what="converted G")
    if not settle_tower_reference(model.generator):  # the snapshot's towers are not the file's: kept by value
        model.keep_tower_by_value()
    load_state_dict_strict(model.generator_ema.module, G_ema.state_dict(), what="converted G_ema")
    load_state_dict_strict(model.discriminator, D.state_dict(), what="converted D")
    model.generator.set_train_mode(recipe.model.train_mode)
    d_opt, g_opt = model.configure_optimizers()  # fresh Adam states: the snapshot has none
    return {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": lightning.__version__,
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "optimizer_states": [d_opt.state_dict(), g_opt.state_dict()],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": dict(model.hparams),
        "stylegan_t": {"kind": CHECKPOINT_KIND, "images_seen": int(images_seen), "samples_skipped": 0, "samples_dropped": 0,
                       "frozen": model.frozen_references()},
    }


def save_feature_network(D: ProjectedDiscriminator, path: Path) -> Path:
    """The discriminator's (frozen) feature-network backbone as a safetensors file its config can name."""
    from safetensors.torch import save_file

    backbone = getattr(D.feature_network, "vit", None)
    if backbone is None:
        raise ValueError("only a ViT feature network is written to its own file")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in backbone.state_dict().items()}, str(path))
    return path


__all__ = ["save_feature_network", "snapshot_recipe", "training_checkpoint"]
