"""Offline loading of open_clip models: local files only, one clear error when weights are missing or do not fit.

Accepted forms (paper Sec. 3.2 and 3.3: the text encoder and the guidance network are CLIP models):
- ``model="local-dir:/folder"``: ``open_clip_config.json`` plus ``open_clip_model.safetensors`` or
  ``open_clip_pytorch_model.bin`` in the folder (the layout open_clip writes for the Hugging Face hub);
- ``model="hf-hub:org/name"``: the same folder, found in a local Hugging Face cache (never downloaded);
- ``model="<open_clip name>"`` with ``pretrained=`` a weights file (``.safetensors``, ``.bin``, ``.pt``, ``.pth``:
  recognised by content, whatever the name), a folder holding open_clip's file names, ``hf-hub:org/name``
  (that model's weights in the local cache), or a tag: the file ``<weights folder>/<name>-<tag>.<ext>``
  (:func:`stylegan_t.utils.local_files.weights_dir`);
- ``pretrained="random"``: an untrained network, asked for explicitly (tests, smoke runs).
``pretrained=None`` with a named architecture is an error: no network is random by omission. Weights are read by
:mod:`stylegan_t.utils.weight_files` (plain data only) and must fit the architecture key for key.

Architectures shipped with stylegan_t (``stylegan-t-tiny``) are built from their config here, without
touching open_clip's global model registry.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..constants import CLIP_MEAN, CLIP_STD
from ..utils.local_files import HF_HUB, RANDOM, MissingWeightsError, find_in_weights_dir, hf_snapshot
from ..utils.weight_files import check_fits, load_fitting, read_weight_shapes, read_weights

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
LOCAL_DIR = "local-dir:"
#: open_clip's own weight file names in a model folder (its Hugging Face hub layout), in order of preference
OPEN_CLIP_FILE_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
SHIPPED_CONFIGS = Path(__file__).with_name("open_clip_configs")

HOW_TO_GET_WEIGHTS = (
    "On a machine with internet access run, for example, "
    "python -c \"import open_clip; open_clip.create_model('ViT-L-14-quickgelu', pretrained='openai', "
    "cache_dir='clip_cache')\", copy the downloaded weights file to this machine and pass its path as "
    "`pretrained` (OpenAI weights need the '-quickgelu' architecture), or put it at the path named above. "
    "See docs/weights.md."
)
HOW_FOLDER = (
    "A model folder holds open_clip_config.json and its weights, as `stylegan-t pretrain-clip` or open_clip's "
    "hub export write them; if it moved, point the model at its new place (`local-dir:/new/folder`)."
)


def how_to_get(model: str) -> str:
    """What to tell a user whose weights for ``model`` are missing: a folder model is theirs, a named one is downloaded."""
    return HOW_FOLDER if model.startswith((LOCAL_DIR, HF_HUB)) else HOW_TO_GET_WEIGHTS


def shipped_config(model: str) -> dict[str, Any] | None:
    """The model config of an architecture shipped with stylegan_t (``stylegan-t-tiny``), or None."""
    path = SHIPPED_CONFIGS / f"{model}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def is_known_architecture(model: str) -> bool:
    """A ``local-dir:`` or ``hf-hub:`` spec, a shipped architecture or one of open_clip's built-in names."""
    import open_clip

    return model.startswith((LOCAL_DIR, HF_HUB)) or shipped_config(model) is not None or model in open_clip.list_models()


def model_folder(model: str) -> Path | None:
    """The folder of a ``local-dir:`` or ``hf-hub:`` model (the latter in the local cache), None for a named one."""
    if model.startswith(LOCAL_DIR):
        return Path(model[len(LOCAL_DIR):]).expanduser()
    if model.startswith(HF_HUB):
        return hf_snapshot(model)
    return None


def folder_weights(folder: Path) -> Path | None:
    """open_clip's weights file in ``folder`` (``open_clip_model.safetensors`` first), or None."""
    return next((folder / f for f in OPEN_CLIP_FILE_NAMES if (folder / f).is_file()), None)


def _folder_model_weights(model: str, folder: Path) -> Path:
    if not (folder / "open_clip_config.json").is_file():
        raise MissingWeightsError(
            f"open_clip model folder '{folder}' ({model}) has no open_clip_config.json. A model folder needs "
            f"open_clip_config.json and one of {OPEN_CLIP_FILE_NAMES}. {how_to_get(model)}"
        )
    weights = folder_weights(folder)
    if weights is None:
        raise MissingWeightsError(
            f"open_clip model folder '{folder}' ({model}) has no weights file (expected one of "
            f"{OPEN_CLIP_FILE_NAMES}). {how_to_get(model)}"
        )
    return weights


def resolve_pretrained(model: str, pretrained: str | None, *, weights_dir: str | os.PathLike | None = None) -> str | None:
    """``model`` + ``pretrained`` (file, folder, ``hf-hub:`` id, tag or ``random``) -> the local weights file
    (None: random), or raise :class:`MissingWeightsError` naming where the file was looked for."""
    folder = model_folder(model)
    if folder is not None:
        return str(_folder_model_weights(model, folder))
    if pretrained == RANDOM:
        return None
    if not pretrained:
        raise MissingWeightsError(
            f"no weights given for open_clip '{model}': set pretrained to a weights file, a tag resolved in the "
            f"weights folder, or '{RANDOM}' for an untrained network (tests only). {how_to_get(model)}"
        )
    if pretrained.startswith(HF_HUB):
        snapshot = hf_snapshot(pretrained)
        weights = folder_weights(snapshot)
        if weights is None:
            raise MissingWeightsError(f"'{pretrained}' in the local cache ('{snapshot}') has none of {OPEN_CLIP_FILE_NAMES}")
        return str(weights)
    path = Path(pretrained).expanduser()
    if path.suffix in _WEIGHT_SUFFIXES or os.sep in pretrained:
        if path.is_dir():
            weights = folder_weights(path)
            if weights is None:
                raise MissingWeightsError(f"open_clip weights for '{model}': folder '{path}' has none of {OPEN_CLIP_FILE_NAMES}")
            return str(weights)
        if not path.is_file():
            raise MissingWeightsError(f"open_clip weights for '{model}' not found at '{path}'. {how_to_get(model)}")
        return str(path)
    found, first = find_in_weights_dir([f"{model}-{pretrained}"], _WEIGHT_SUFFIXES, weights_dir)
    if found is not None:
        return str(found)
    raise MissingWeightsError(
        f"open_clip weights for '{model}' with tag '{pretrained}' are not on disk: looked for "
        f"{first} (or .bin/.pt/.pth). {how_to_get(model)}"
    )


def build_architecture(model: str, *, device: str | torch.device | None = None) -> nn.Module:
    """The open_clip model ``model`` names, randomly initialised (``device="meta"``: shapes only, no memory)."""
    import open_clip

    device = device or torch.get_default_device()
    config = shipped_config(model)
    if config is not None:
        with torch.device(device):
            return open_clip.CLIP(**config)
    folder = model_folder(model)
    name = f"{LOCAL_DIR}{folder}" if folder is not None else model
    root = logging.getLogger()
    root.addFilter(_no_random_init_warning)  # weights, if any, are loaded by the caller: not "initialized randomly"
    try:
        with torch.device(device):
            return open_clip.create_model(name, pretrained=None, load_weights=False, device=device)
    finally:
        root.removeFilter(_no_random_init_warning)


def _no_random_init_warning(record: logging.LogRecord) -> bool:
    return "initialized randomly" not in record.getMessage()


def prepare_state(clip: nn.Module, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A CLIP state dict as the model takes it: the older text layout for custom-text models, scalar
    ``logit_scale`` / ``logit_bias`` shaped as the model's, a zero ``logit_bias`` where the file has none."""
    from open_clip.model import convert_to_custom_text_state_dict

    state = dict(state)
    if "positional_embedding" in state and not hasattr(clip, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    for name in ("logit_scale", "logit_bias"):
        own = getattr(clip, name, None)
        if isinstance(own, torch.Tensor) and name in state and state[name].ndim != own.ndim:
            state[name] = state[name].reshape(own.shape)
    if isinstance(getattr(clip, "logit_bias", None), torch.Tensor) and "logit_bias" not in state and "logit_scale" in state:
        state["logit_bias"] = torch.zeros_like(state["logit_scale"])
    return state


def check_weights_file(model: str, weights: str | os.PathLike) -> None:
    """Cheap: the file's key names and shapes against ``model`` built on the meta device; raises one line."""
    clip = build_architecture(model, device="meta")
    found = prepare_state(clip, read_weight_shapes(weights, what=f"open_clip '{model}' weights"))
    check_fits(found, clip.state_dict(), source=f"'{weights}'", what=f"open_clip '{model}' weights")


def create_open_clip(model: str, weights: str | None = None) -> tuple[nn.Module, Callable]:
    """An open_clip model and its tokenizer; ``weights`` (a resolved file, None: random) is read by content and
    must fit key for key."""
    import open_clip

    clip = build_architecture(model)
    if weights is not None:
        what = f"open_clip '{model}' weights"
        load_fitting(clip, prepare_state(clip, read_weights(weights, what=what)), source=f"'{weights}'", what=what)
    config = shipped_config(model)
    if config is not None:
        return clip, open_clip.SimpleTokenizer(context_length=config["text_cfg"]["context_length"])
    folder = model_folder(model)
    return clip, open_clip.get_tokenizer(f"{LOCAL_DIR}{folder}" if folder is not None else model)


def load_open_clip(
    model: str,
    pretrained: str | None = None,
    *,
    text_only: bool = False,
    weights_dir: str | os.PathLike | None = None,
) -> tuple[nn.Module, Callable]:
    """Create an open_clip model and its tokenizer from local files only; ``text_only`` drops the visual tower."""
    weights = resolve_pretrained(model, pretrained, weights_dir=weights_dir)
    clip, tokenizer = create_open_clip(model, weights)
    if text_only and hasattr(clip, "visual"):
        del clip.visual
    return clip.float(), tokenizer


def image_settings(visual: nn.Module | None) -> tuple[tuple[int, int], tuple[float, ...], tuple[float, ...]]:
    """(input size, mean, std) of a CLIP image tower, for :func:`stylegan_t.images.pretrained_input`: the tower's own
    ``image_size`` / ``image_mean`` / ``image_std``, with 224 and CLIP's published normalisation where it has none."""
    size = getattr(visual, "image_size", 224)
    pair = (int(size[0]), int(size[1])) if isinstance(size, (tuple, list)) else (int(size), int(size))
    mean = tuple(getattr(visual, "image_mean", None) or CLIP_MEAN)
    std = tuple(getattr(visual, "image_std", None) or CLIP_STD)
    return pair, mean, std
