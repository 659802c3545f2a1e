"""Offline loading of open_clip models: local files only, one clear error when weights are missing.

Accepted forms (paper Sec. 3.2 and 3.3: the text encoder and the guidance network are CLIP models):
- ``model="local-dir:/folder"``: ``open_clip_config.json`` plus a weights file in the folder;
- ``model="<open_clip name>"`` with ``pretrained="/path/to/weights.(pt|bin|safetensors)"``;
- ``model="<open_clip name>"`` with ``pretrained="<tag>"``: the file must already be at
  ``<weights folder>/<name>-<tag>.(safetensors|bin|pt|pth)`` (:func:`stylegan_t.utils.local_files.weights_dir`);
- ``pretrained="random"``: an untrained network, asked for explicitly (tests, smoke runs).
``pretrained=None`` with a named architecture is an error: no network is random by omission.

Architectures shipped with stylegan_t (``stylegan-t-tiny``) are built from their config here, without
touching open_clip's global model registry.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from torch import nn

from ..utils.local_files import RANDOM, MissingWeightsError, find_in_weights_dir

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
LOCAL_DIR = "local-dir:"
_WEIGHT_FILES_IN_DIR = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
SHIPPED_CONFIGS = Path(__file__).with_name("open_clip_configs")

HOW_TO_GET_WEIGHTS = (
    "On a machine with internet access run, for example, "
    "python -c \"import open_clip; open_clip.create_model('ViT-L-14-quickgelu', pretrained='openai', "
    "cache_dir='clip_cache')\", copy the downloaded weights file to this machine and pass its path as "
    "`pretrained` (OpenAI weights need the '-quickgelu' architecture), or put it at the path named above. "
    "See docs/weights.md."
)


def shipped_config(model: str) -> dict[str, Any] | None:
    """The model config of an architecture shipped with stylegan_t (``stylegan-t-tiny``), or None."""
    path = SHIPPED_CONFIGS / f"{model}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def is_known_architecture(model: str) -> bool:
    """A ``local-dir:`` spec, a shipped architecture or one of open_clip's built-in names."""
    import open_clip

    return model.startswith(LOCAL_DIR) or shipped_config(model) is not None or model in open_clip.list_models()


def _check_local_dir(model: str) -> None:
    folder = Path(model[len(LOCAL_DIR):]).expanduser()
    if not (folder / "open_clip_config.json").is_file():
        raise MissingWeightsError(
            f"open_clip model folder '{folder}' has no open_clip_config.json. A 'local-dir:' folder "
            f"needs open_clip_config.json and one of {_WEIGHT_FILES_IN_DIR}. {HOW_TO_GET_WEIGHTS}"
        )
    if not any((folder / f).is_file() for f in _WEIGHT_FILES_IN_DIR):
        raise MissingWeightsError(
            f"open_clip model folder '{folder}' has no weights file (expected one of "
            f"{_WEIGHT_FILES_IN_DIR}). {HOW_TO_GET_WEIGHTS}"
        )


def resolve_pretrained(model: str, pretrained: str | None, *, weights_dir: str | os.PathLike | None = None) -> str | None:
    """``pretrained`` (file path, tag or ``random``) -> a local file path (None: random, or weights in a
    ``local-dir:`` folder), or raise :class:`MissingWeightsError` naming where the file was looked for."""
    if model.startswith(LOCAL_DIR):
        _check_local_dir(model)
        return None
    if pretrained == RANDOM:
        return None
    if not pretrained:
        raise MissingWeightsError(
            f"no weights given for open_clip '{model}': set pretrained to a weights file, a tag resolved in the "
            f"weights folder, or '{RANDOM}' for an untrained network (tests only). {HOW_TO_GET_WEIGHTS}"
        )
    path = Path(pretrained).expanduser()
    if path.suffix in _WEIGHT_SUFFIXES or os.sep in pretrained:
        if not path.is_file():
            raise MissingWeightsError(f"open_clip weights for '{model}' not found at '{path}'. {HOW_TO_GET_WEIGHTS}")
        return str(path)
    found, first = find_in_weights_dir([f"{model}-{pretrained}"], _WEIGHT_SUFFIXES, weights_dir)
    if found is not None:
        return str(found)
    raise MissingWeightsError(
        f"open_clip weights for '{model}' with tag '{pretrained}' are not on disk: looked for "
        f"{first} (or .bin/.pt/.pth). {HOW_TO_GET_WEIGHTS}"
    )


def create_open_clip(model: str, weights: str | None = None) -> tuple[nn.Module, Callable]:
    """An open_clip model and its tokenizer from a resolved weights file (None: random or ``local-dir:``)."""
    import open_clip

    config = shipped_config(model)
    if config is None:
        return open_clip.create_model(model, pretrained=weights), open_clip.get_tokenizer(model)
    clip = open_clip.CLIP(**config)
    if weights is not None:
        open_clip.load_checkpoint(clip, weights, strict=True, weights_only=True)
    return clip, open_clip.SimpleTokenizer(context_length=config["text_cfg"]["context_length"])


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
