"""A ``stylegan-t fit`` training checkpoint from an original snapshot's networks (G, G_ema, D), to continue its run.

The checkpoint is what a ``StyleGANT`` built from the recipe would save at ``images_seen`` (the snapshot's kimg):
its ``state_dict`` with the converted weights, fresh Adam states (the original's snapshots hold none), the recipe
as hyper-parameters. ``stylegan-t fit RECIPE --resume CKPT`` and ``model.init_from`` read it like any other
training checkpoint. The networks themselves come from :mod:`stylegan_t.convert` (no Lightning needed there).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..convert.snapshot import discriminator_from_snapshot, generator_from_snapshot, read_snapshot
from ..models.discriminator import ProjectedDiscriminator
from ..models.generator import TRAIN_MODES, Generator
from ..persistence import load_state_strict, settle_tower_reference
from ..persistence.training_layout import CheckpointMeta, lightning_checkpoint
from .checkpoint_io import atomic_torch_save
from .module import StyleGANT
from .module_class import class_path
from .recipe import Recipe, load_recipe, recipe_to_dict, recipe_to_yaml


def snapshot_recipe(base: str | Path, G: Generator, D: ProjectedDiscriminator, *, train_mode: str | None = None,
                    feature_weights: Path | None = None) -> Recipe:
    """``base`` recipe (name or file) with ``model`` set to the converted networks' configurations.

    ``feature_weights``: the file holding the discriminator's feature-network weights (written by the caller).
    """
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


def training_checkpoint(recipe: Recipe, *, G: Generator, G_ema: Generator, D: ProjectedDiscriminator,
                        images_seen: int = 0) -> dict[str, Any]:
    """The checkpoint dict (Lightning layout) of a ``StyleGANT`` built from ``recipe`` holding G, G_ema and D."""
    model = StyleGANT(recipe)
    load_state_strict(model.generator, G.state_dict(), source="converted G")
    if not settle_tower_reference(model.generator):  # the snapshot's towers are not the file's: kept by value
        model.keep_tower_by_value()
    load_state_strict(model.generator_ema.module, G_ema.state_dict(), source="converted G_ema")
    load_state_strict(model.discriminator, D.state_dict(), source="converted D")
    model.generator.set_train_mode(recipe.model.train_mode)
    d_opt, g_opt = model.configure_optimizers()  # fresh Adam states: the snapshot has none
    return lightning_checkpoint(
        state_dict={k: v.detach().clone() for k, v in model.state_dict().items()},
        optimizer_states=[d_opt.state_dict(), g_opt.state_dict()],
        hyper_parameters=dict(model.hparams),
        meta=CheckpointMeta(class_path(StyleGANT), images_seen=int(images_seen), frozen=model.frozen_references()),
    )


def save_feature_network(D: ProjectedDiscriminator, path: Path) -> Path:
    """The discriminator's (frozen) feature-network backbone as a safetensors file its config can name."""
    from safetensors.torch import save_file

    backbone = getattr(D.feature_network, "vit", None)
    if backbone is None:
        raise ValueError("only a ViT feature network is written to its own file")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in backbone.state_dict().items()}, str(path))
    return path


def convert_snapshot_for_training(snapshot_path: str | os.PathLike, out: str | os.PathLike, *, text_arch: str | None = None,
                                  recipe: str | os.PathLike = "lite-64") -> dict[str, Path]:
    """``out`` (a training checkpoint of G, G_ema and D), ``out.recipe.yaml`` (``recipe`` with its model section
    replaced) and ``out.dino.safetensors`` (D's feature network), from an original snapshot."""
    snapshot = read_snapshot(snapshot_path)
    ckpt = Path(out)
    G = generator_from_snapshot(snapshot, "G", text_arch=text_arch)
    G_ema = generator_from_snapshot(snapshot, "G_ema", text_arch=text_arch)
    D = discriminator_from_snapshot(snapshot)
    dino = save_feature_network(D, ckpt.with_name(ckpt.stem + ".dino.safetensors"))
    train_mode = snapshot.G.attrs.get("train_mode")
    full = snapshot_recipe(recipe, G, D, train_mode=train_mode if isinstance(train_mode, str) else None, feature_weights=dino)
    atomic_torch_save(training_checkpoint(full, G=G, G_ema=G_ema, D=D, images_seen=snapshot.kimg * 1000), ckpt)
    written = {"training": ckpt, "recipe": ckpt.with_name(ckpt.stem + ".recipe.yaml"), "feature_network": dino}
    written["recipe"].write_text(recipe_to_yaml(full))
    return written
