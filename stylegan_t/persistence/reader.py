"""The one reader of generator files: pretrained folder, ``.safetensors`` export or training checkpoint, by content."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..models.generator import Generator
from .checkpoint import generator_part, read_training_checkpoint
from .formats import CHECKPOINT_META, EXPECTED
from .generator_files import build_generator, check_exists, parse_generator_config, read_record, read_tensors, sniff
from .references import anchors_of
from .sharded import is_sharded_checkpoint
from .strict import CheckpointLoadError


def read_generator_and_info(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", text_encoder: str | None = None, ema: bool = True
) -> tuple[Generator, dict[str, Any]]:
    """(eval-mode generator on ``device``, info about the file); ``ema=False`` takes a checkpoint's live generator.

    ``text_encoder`` replaces the stored open_clip model (e.g. a moved ``local-dir:`` folder).
    """
    path = Path(path)
    check_exists(path)
    kind = "torch" if is_sharded_checkpoint(path) else sniff(path)
    if kind in ("pretrained", "safetensors"):
        record = read_record(path)
        config = parse_generator_config(record["generator_config"], source=f"'{path}'")
        what = f"{'pretrained folder' if kind == 'pretrained' else 'export'} '{path}'"
        generator = build_generator(
            config, read_tensors(path, record), frozen=record["frozen"], source=what, text_encoder=text_encoder, anchors=anchors_of(path)
        )
        info = {"kind": "pretrained" if kind == "pretrained" else "export", "source": record["source"]}
    elif kind == "torch":
        ckpt = read_training_checkpoint(path)
        config_dict, state, frozen = generator_part(ckpt, ema=ema, path=path)
        config = parse_generator_config(config_dict, source=f"'{path}'")
        what = f"training checkpoint '{path}' ({'EMA' if ema else 'live'} generator)"
        generator = build_generator(config, state, frozen=frozen, source=what, text_encoder=text_encoder, anchors=anchors_of(path))
        info = {"kind": "training-checkpoint", "images_seen": int(ckpt[CHECKPOINT_META].get("images_seen", 0)), "ema": ema}
    else:
        raise CheckpointLoadError(f"'{path}' is neither a safetensors file nor a torch checkpoint (unrecognized content); {EXPECTED}")
    return generator.to(device), info


def read_generator(
    path: str | os.PathLike, *, device: str | torch.device = "cpu", text_encoder: str | None = None, ema: bool = True
) -> Generator:
    """The eval-mode generator of any stylegan_t generator file (see :func:`read_generator_and_info`)."""
    return read_generator_and_info(path, device=device, text_encoder=text_encoder, ema=ema)[0]
