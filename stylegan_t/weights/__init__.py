"""Generators that ship inside the package, by name: ``stylegan_t.load("emoji")`` needs no training and no download.

``emoji``: the ``emoji-cpu`` recipe's EMA generator (32x32, its small text tower stored by value), trained on
Noto Color Emoji renders captioned with their Unicode names (docs/emoji.md). The renders it learned from are
under the SIL Open Font License 1.1; the weights are released under the MIT licence of this package.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import UserError

#: shipped model name -> its pretrained folder (config.json + model.safetensors) inside this package
SHIPPED: dict[str, str] = {"emoji": "emoji"}


def shipped_model(name: str) -> Path:
    """The pretrained folder of a shipped model; a name that is not shipped is a one-line :class:`UserError`."""
    if name not in SHIPPED:
        raise UserError(f"no shipped model named {name!r}; shipped: {', '.join(sorted(SHIPPED))}")
    folder = Path(__file__).resolve().parent / SHIPPED[name]
    if not (folder / "model.safetensors").is_file():
        raise UserError(f"the shipped model {name!r} is missing from this installation ({folder}); reinstall stylegan_t")
    return folder


def resolve_model(path: str | os.PathLike) -> Path:
    """``path`` itself when it exists, else the shipped model of that name (``"emoji"``), else ``path`` (whose
    reader then reports it as missing)."""
    if not Path(path).exists() and str(path) in SHIPPED:
        return shipped_model(str(path))
    return Path(path)


__all__ = ["SHIPPED", "resolve_model", "shipped_model"]
