"""Convert a snapshot file into our files: the generator export and, optionally, a training checkpoint.

:func:`write_generator` and :func:`write_training_checkpoint` are the only places this package hands
networks to the file formats, so they follow the persistence layer in one spot.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..models.generator import Generator
from ..utils.file_modes import publish
from .snapshot import discriminator_from_snapshot, generator_from_snapshot, read_snapshot
from .training_checkpoint import save_feature_network, snapshot_recipe, training_checkpoint


def write_generator(generator: Generator, out: Path, *, source: dict[str, Any]) -> Path:
    """``out.safetensors``: a single-file export; any other path: a pretrained folder (where supported)."""
    from ..persistence import settle_tower_reference, write_export, write_pretrained

    settle_tower_reference(generator)  # the snapshot's tower is stored by value unless it equals its spec's file
    if out.suffix == ".safetensors":
        return write_export(out, generator, source=source)
    write_pretrained(out, generator)
    return out


def write_training_checkpoint(checkpoint: dict[str, Any], out: Path) -> Path:
    """A training checkpoint file, written whole or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    torch.save(checkpoint, tmp)
    publish(tmp, out)
    return out


def convert_snapshot(
    snapshot_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    text_arch: str | None = None,
    training: str | os.PathLike | None = None,
    recipe: str | os.PathLike = "lite-64",
) -> dict[str, Path]:
    """``G_ema`` of an original snapshot -> ``out``; with ``training``, also a training checkpoint (G, G_ema, D)
    built on ``recipe`` (its model section replaced), its recipe as YAML and the DINO weights beside it."""
    snapshot = read_snapshot(snapshot_path)
    source = {"kind": "official-snapshot", "file": snapshot.path.name, "kimg": snapshot.kimg}
    G_ema = generator_from_snapshot(snapshot, "G_ema", text_arch=text_arch)
    written = {"generator": write_generator(G_ema, Path(out), source=source)}
    if training is None:
        return written
    from ..training.recipe import recipe_to_yaml

    ckpt = Path(training)
    G = generator_from_snapshot(snapshot, "G", text_arch=text_arch)
    D = discriminator_from_snapshot(snapshot)
    dino = save_feature_network(D, ckpt.with_name(ckpt.stem + ".dino.safetensors"))
    train_mode = snapshot.G.attrs.get("train_mode")
    full = snapshot_recipe(recipe, G, D, train_mode=train_mode if isinstance(train_mode, str) else None, feature_weights=dino)
    checkpoint = training_checkpoint(full, G=G, G_ema=G_ema, D=D, images_seen=snapshot.kimg * 1000)
    written["training"] = write_training_checkpoint(checkpoint, ckpt)
    written["recipe"] = ckpt.with_name(ckpt.stem + ".recipe.yaml")
    written["recipe"].write_text(recipe_to_yaml(full))
    written["feature_network"] = dino
    return written


__all__ = ["convert_snapshot", "write_generator", "write_training_checkpoint"]
