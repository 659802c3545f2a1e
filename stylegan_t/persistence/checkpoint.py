"""The model part of a training checkpoint (``.ckpt`` from ``stylegan-t fit``): read it, strip and restore frozen networks.

Layout (Lightning's dict): ``state_dict`` holds what was trained (G, D heads, EMA); frozen pretrained networks
are left out and named in ``checkpoint["stylegan_t"]["frozen"]`` as ``{module prefix: reference}``.
``hyper_parameters.recipe`` is the recipe as plain dicts. Older checkpoints that hold every tensor still read.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .formats import CHECKPOINT_KIND, CHECKPOINT_META, EMA_PREFIX, EXPECTED, FROZEN, HYPER_PARAMETERS, LIVE_PREFIX, STATE_DICT
from .references import verify_reference
from .strict import CheckpointLoadError, _under
from .training_layout import CheckpointMeta


def torch_load(path: str | os.PathLike, *, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)``: plain data only, never code from the file (even where the environment
    overrides torch's default); ``mmap`` maps tensor bytes instead of reading them (a cheap integrity check)."""
    from .generator_files import check_exists

    path = Path(path)
    check_exists(path)
    if not path.is_file():
        raise CheckpointLoadError(f"'{path}' is not a file; {EXPECTED}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as err:  # truncated zip, arbitrary pickle refused by weights_only, ...
        raise CheckpointLoadError(f"'{path}' {_unreadable_reason(path, err)}; {EXPECTED}") from err


def _unreadable_reason(path: Path, err: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused ``path``, in the user's terms (torch's own text names
    its internals: mmap, zipfile serialization, unpickler globals)."""
    import pickle
    import zipfile

    if "Weights only load failed" in str(err) or isinstance(err, pickle.UnpicklingError) and zipfile.is_zipfile(path):
        return "holds pickled objects or code, which stylegan_t never loads (it reads plain tensors only)"
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"PK":  # a zip (torch's format) that torch could not read: cut short or corrupt
        return "is a damaged torch file (truncated or corrupt)"
    if head[:1] == b"\x80":  # a pickle protocol header: a torch file from before the zip format, or a cut one
        return "is a damaged or legacy torch file that cannot be read as plain data"
    return "is not a torch checkpoint"


def is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def describe_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    """What a bare state dict probably is, for the error message."""
    keys = list(state)
    if any(k.startswith("mapping.clip.") or ".convs1." in k for k in keys):
        return ("an original StyleGAN-T generator state dict: convert it first with `stylegan-t convert-official` "
                "and its architecture (--img-resolution, --channel-base, ...)")
    if any(k.startswith(("heads.", "dino.", "discriminator.", "feature_network.")) for k in keys):
        return "a discriminator state dict, not a generator"
    if any(k.startswith(("mapping.", "synthesis.")) for k in keys):
        return "a bare generator state dict without its config (export the training checkpoint instead)"
    shown = ", ".join(repr(k) for k in keys[:3])
    return f"a plain state dict of {len(keys)} tensors (keys {shown}, ...) without a generator config"


def checkpoint_meta(ckpt: Any, *, path: str | os.PathLike) -> dict[str, Any]:
    """``ckpt["stylegan_t"]`` of a stylegan_t training checkpoint; anything else raises naming what it is."""
    meta = ckpt.get(CHECKPOINT_META) if isinstance(ckpt, dict) else None
    if isinstance(meta, dict) and meta.get("kind") == CHECKPOINT_KIND:
        return meta
    if is_tensor_dict(ckpt):
        found = describe_state_dict(ckpt)
    elif isinstance(ckpt, dict) and STATE_DICT in ckpt:
        found = "a Lightning checkpoint of another model (no 'stylegan_t' entry of kind StyleGANT)"
    else:
        found = f"a {type(ckpt).__name__} that is not a checkpoint"
    if "convert it first" in found:  # the description is the advice
        raise CheckpointLoadError(f"'{path}' is {found}")
    raise CheckpointLoadError(f"'{path}' is not a stylegan_t training checkpoint: it is {found}; {EXPECTED}")


def read_training_checkpoint(path: str | os.PathLike, *, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """A training checkpoint's dict (checked to be one): ``state_dict``, ``hyper_parameters``, ``stylegan_t``, ...

    A sharded checkpoint folder (``strategy: fsdp``) reads the same, on one process (:mod:`.sharded`)."""
    from .sharded import is_sharded_checkpoint, read_sharded_checkpoint

    ckpt = read_sharded_checkpoint(path) if is_sharded_checkpoint(path) else torch_load(path, map_location=map_location, mmap=mmap)
    checkpoint_meta(ckpt, path=path)
    return ckpt


def generator_part(ckpt: Mapping[str, Any], *, ema: bool, path: str | os.PathLike) -> tuple[dict, dict[str, torch.Tensor], dict[str, Any]]:
    """(generator config dict, generator state, frozen references) of the EMA (or live) generator, prefixes removed."""
    try:
        config = dict(ckpt[HYPER_PARAMETERS]["recipe"]["model"]["generator"])
    except (KeyError, TypeError) as err:
        raise CheckpointLoadError(f"'{path}': no hyper_parameters.recipe.model.generator ({err})") from err
    prefix = EMA_PREFIX if ema else LIVE_PREFIX
    state = {k[len(prefix):]: v for k, v in ckpt.get(STATE_DICT, {}).items() if k.startswith(prefix)}
    if not state:
        raise CheckpointLoadError(f"'{path}': the checkpoint's state_dict has no '{prefix}*' tensors")
    frozen = ckpt[CHECKPOINT_META].get(FROZEN, {})
    refs = {k[len(prefix):]: v for k, v in frozen.items() if k.startswith(prefix)}
    return config, state, refs


# --- the LightningModule's side (used by StyleGANT's checkpoint hooks) ------------------------------


def strip_frozen(state: dict[str, Any], prefixes: list[str], *, prefix: str = "") -> None:
    """Delete, in place, the keys of frozen networks (``prefix`` + one of ``prefixes``) from a state dict."""
    full = [prefix + p for p in prefixes]
    for key in [k for k in state if _under(k, full)]:
        del state[key]


def verify_frozen(stored: Mapping[str, Any], current: Mapping[str, Any], *, source: str) -> None:
    """Every network the checkpoint stores by reference must be the one built now (file and checksum)."""
    for name, ref in stored.items():
        verify_reference(ref, current.get(name), name=name, source=source)


def fill_frozen(state: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor], prefixes: list[str]) -> dict[str, torch.Tensor]:
    """``state`` with the missing keys of frozen networks taken from the module itself (they were built, not stored)."""
    out = dict(state)
    for key, value in own.items():
        if key not in out and _under(key, prefixes):
            out[key] = value
    return out


def check_module_checkpoint(path: str | os.PathLike) -> None:
    """``path`` is a training checkpoint that can rebuild its module (its recipe included); one line otherwise."""
    from ..errors import CheckpointError

    try:
        ckpt = read_training_checkpoint(path, mmap=True)
    except CheckpointError as err:  # only a training checkpoint rebuilds the module: say that, not "or an export"
        raise CheckpointError(str(err).removesuffix(EXPECTED) + "give a .ckpt written by `stylegan-t fit`") from err
    if not isinstance(ckpt.get(HYPER_PARAMETERS, {}).get("recipe"), dict):
        raise CheckpointError(f"'{path}': a stylegan_t checkpoint without its recipe (hyper_parameters.recipe); "
                              "it cannot rebuild the module")


def write_checkpoint_meta(checkpoint: dict[str, Any], meta: CheckpointMeta, *, frozen_prefixes: list[str]) -> None:
    """Lightning's checkpoint dict as saved: frozen networks' tensors left out, our entry written."""
    strip_frozen(checkpoint.get(STATE_DICT, {}), frozen_prefixes)
    checkpoint[CHECKPOINT_META] = meta.to_dict()


def restore_checkpoint_meta(checkpoint: Mapping[str, Any], current: Mapping[str, Any], *, source: str) -> CheckpointMeta:
    """Our entry of a checkpoint being resumed, its frozen networks checked against ``current`` (the references of
    the networks built now)."""
    meta = checkpoint.get(CHECKPOINT_META)
    if not isinstance(meta, dict) or meta.get("kind") != CHECKPOINT_KIND:
        raise CheckpointLoadError(f"{source}: not a stylegan_t training checkpoint (no 'stylegan_t' entry of kind StyleGANT)")
    read = CheckpointMeta.read(checkpoint)
    if read.frozen:
        verify_frozen(read.frozen, current, source=source)
    return read


def init_state(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, frozen references) of a training checkpoint, for ``model.init_from``."""
    ckpt = read_training_checkpoint(path)
    return dict(ckpt.get(STATE_DICT, {})), dict(ckpt[CHECKPOINT_META].get(FROZEN, {}))
