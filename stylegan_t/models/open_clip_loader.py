"""Offline loading of open_clip models: local files only, one clear error when weights are missing.

Accepted forms (SPEC: text encoder and CLIP guidance are open_clip models):
- ``model="local-dir:/folder"``: ``open_clip_config.json`` plus a weights file in the folder;
- ``model="<open_clip name>"`` with ``pretrained="/path/to/weights.(pt|bin|safetensors)"``;
- ``model="<open_clip name>"`` with ``pretrained="<tag>"``: the file must already be at
  ``<weights_dir>/<name>-<tag>.(safetensors|bin|pt)`` (``weights_dir`` defaults to
  ``$STYLEGAN_T_WEIGHTS`` or ``~/.cache/stylegan_t``);
- ``pretrained=None``: random initialisation (tests, the CPU demo).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from torch import nn

from ..utils.local_files import MissingWeightsError

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_LOCAL_DIR = "local-dir:"
_WEIGHT_FILES_IN_DIR = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")

HOW_TO_GET_WEIGHTS = (
    "On a machine with internet access run, for example,\n"
    "  python -c \"import open_clip; open_clip.create_model('ViT-L-14-quickgelu', pretrained='openai', "
    "cache_dir='clip_cache')\"\n"
    "copy the downloaded weights file to this machine and pass its path as `pretrained` "
    "(OpenAI weights need the '-quickgelu' architecture), or put it at the path named above. "
    "See docs/weights.md."
)


def default_weights_dir() -> Path:
    """Folder searched for weights given by tag: ``$STYLEGAN_T_WEIGHTS`` or ``~/.cache/stylegan_t``."""
    return Path(os.environ.get("STYLEGAN_T_WEIGHTS", Path.home() / ".cache" / "stylegan_t"))


def resolve_pretrained(model: str, pretrained: str | None, *, weights_dir: str | os.PathLike | None = None) -> str | None:
    """Turn ``pretrained`` (file path, tag or None) into a local file path, or raise MissingWeightsError."""
    if model.startswith(_LOCAL_DIR):
        folder = Path(model[len(_LOCAL_DIR):]).expanduser()
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
        return None
    if not pretrained:
        return None
    path = Path(pretrained).expanduser()
    if path.suffix in _WEIGHT_SUFFIXES or os.sep in pretrained:
        if not path.is_file():
            raise MissingWeightsError(f"open_clip weights for '{model}' not found at '{path}'. {HOW_TO_GET_WEIGHTS}")
        return str(path)
    folder = Path(weights_dir) if weights_dir is not None else default_weights_dir()
    candidates = [folder / f"{model}-{pretrained}{suffix}" for suffix in _WEIGHT_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise MissingWeightsError(
        f"open_clip weights for '{model}' with tag '{pretrained}' are not on disk: looked for "
        f"{candidates[0]} (or .bin/.pt). {HOW_TO_GET_WEIGHTS}"
    )


SHIPPED_CONFIGS = Path(__file__).with_name("open_clip_configs")


def register_shipped_configs() -> None:
    """Make the architectures shipped with stylegan_t (e.g. ``stylegan-t-tiny`` for CPU runs) known to open_clip."""
    import open_clip

    known = set(open_clip.list_models())
    for path in SHIPPED_CONFIGS.glob("*.json"):
        if path.stem not in known:
            open_clip.add_model_config(path)


def load_open_clip(
    model: str,
    pretrained: str | None = None,
    *,
    text_only: bool = False,
    weights_dir: str | os.PathLike | None = None,
) -> tuple[nn.Module, Callable]:
    """Create an open_clip model and its tokenizer from local files only; ``text_only`` drops the visual tower."""
    import open_clip

    register_shipped_configs()
    weights = resolve_pretrained(model, pretrained, weights_dir=weights_dir)
    clip = open_clip.create_model(model, pretrained=weights)
    tokenizer = open_clip.get_tokenizer(model)
    if text_only:
        if hasattr(clip, "visual"):
            del clip.visual
    return clip.float(), tokenizer
