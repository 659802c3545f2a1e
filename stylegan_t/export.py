"""Write portable generator files: an export from any generator or generator file, or from an original state dict.

Reading is :func:`stylegan_t.persistence.read_generator` (or ``stylegan_t.load``); :mod:`stylegan_t.persistence` owns the formats.

An export is one ``.safetensors`` file: the EMA generator's tensors (a frozen text tower by reference: its
open_clip spec and the sha256 of the weights file's tensors) plus, in the metadata, ``format``, ``format_version``,
``generator_config``, ``aliases``, ``frozen``, ``source`` and ``stylegan_t_version``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .models.generator import Generator
from .persistence import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointLoadError,
    CheckpointNotFoundError,
    read_generator_and_info,
    read_record,
    settle_tower_reference,
    torch_load,
    write_export,
)
from .persistence.checkpoint import is_tensor_dict
from .persistence.strict import dedupe_for_safetensors as _dedupe_for_safetensors  # noqa: F401  (tests)


def export_generator(
    generator_or_ckpt: Any,
    out_path: str | os.PathLike,
    *,
    dtype: torch.dtype | None = None,
    source: dict[str, Any] | None = None,
) -> Path:
    """Write ``out_path`` from a :class:`Generator`, a ``StyleGANT`` module (its EMA), a pipeline, or any generator file."""
    source = dict(source or {})
    if isinstance(generator_or_ckpt, (str, os.PathLike)):
        path = Path(generator_or_ckpt)
        generator, info = read_generator_and_info(path)
        source = {**info, "file": path.name, **source}
    else:
        generator = _as_generator(generator_or_ckpt)
        source.setdefault("kind", "module")
    return write_export(out_path, generator, dtype=dtype, source=source)


def _as_generator(obj: Any) -> Generator:
    if isinstance(obj, Generator):
        return obj
    ema = getattr(obj, "generator_ema", None)  # a StyleGANT LightningModule
    if ema is not None and isinstance(getattr(ema, "module", None), Generator):
        return ema.module
    if isinstance(getattr(obj, "generator", None), Generator):  # a StyleGANTPipeline
        return obj.generator
    raise TypeError(f"cannot export {type(obj).__name__}: expected a Generator, a StyleGANT module, a pipeline or a path")


def convert_official_to_export(
    state_dict_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    img_resolution: int,
    channel_base: int,
    channel_max: int,
    num_res_blocks: int,
    text_encoder: str,
    z_dim: int = 64,
) -> Path:
    """Convert an original StyleGAN-T generator ``state_dict()`` (``torch.save``-d) into an export."""
    from .convert.generator import generator_from_official
    from .persistence.strict import StateMismatchError

    path = Path(state_dict_path)
    raw = torch_load(path)
    if isinstance(raw, dict) and len(raw) == 1 and isinstance(next(iter(raw.values())), dict):
        raw = next(iter(raw.values()))  # e.g. {"G_ema": state_dict}
    if not is_tensor_dict(raw):
        raise CheckpointLoadError(f"'{path}' is not a state dict (a dict of tensors); expected the original generator's state_dict()")
    try:
        generator = generator_from_official(
            raw, img_resolution=img_resolution, channel_base=channel_base, channel_max=channel_max,
            num_res_blocks=num_res_blocks, text_encoder=text_encoder, z_dim=z_dim,
        )
    except StateMismatchError as err:
        raise CheckpointLoadError(f"'{path}': {err}") from err
    settle_tower_reference(generator)  # the snapshot's tower: by reference only if it equals the spec's file
    return write_export(out_path, generator, source={"kind": "official", "file": path.name})


def read_export_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed record of an export or pretrained folder: ``format``, ``generator_config``, ``frozen``, ``source``, ..."""
    return read_record(path)


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckpointLoadError",
    "CheckpointNotFoundError",
    "convert_official_to_export",
    "export_generator",
    "read_export_metadata",
]
