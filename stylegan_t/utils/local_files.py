"""Offline weight files: the one weights folder, tag -> file resolution, and one clear error when a file is missing.

Every pretrained network of stylegan_t is a local file given as a path or as a tag resolved in the weights
folder (``$STYLEGAN_T_WEIGHTS``, default ``~/.cache/stylegan_t``; docs/weights.md). The value ``random``
asks for an untrained network explicitly (tests, smoke runs); there is no random network by omission.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import MissingWeightsError

__all__ = ["MissingWeightsError", "RANDOM", "WEIGHTS_ENV", "require_local_file", "weights_dir", "find_in_weights_dir"]

#: the explicit "no pretrained weights" value of every weights field
RANDOM = "random"
#: environment variable naming the weights folder
WEIGHTS_ENV = "STYLEGAN_T_WEIGHTS"


def weights_dir() -> Path:
    """The folder searched for weights given by tag: ``$STYLEGAN_T_WEIGHTS`` or ``~/.cache/stylegan_t``."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stylegan_t"


def find_in_weights_dir(stems: Sequence[str], suffixes: Sequence[str], folder: str | os.PathLike | None = None) -> tuple[Path | None, Path]:
    """The first existing ``<folder>/<stem><suffix>`` (None if none), and the first candidate (for messages)."""
    base = Path(folder).expanduser() if folder is not None else weights_dir()
    candidates = [base / f"{stem}{suffix}" for stem in stems for suffix in suffixes]
    return next((c for c in candidates if c.is_file()), None), candidates[0]


def require_local_file(path: str | os.PathLike, *, what: str, how: str) -> Path:
    """Return ``path`` as a :class:`Path` if it exists, else raise :class:`MissingWeightsError`.

    ``what`` names the weights (e.g. "DINO ViT-S/16 feature network") and ``how`` says how to put
    the file on disk; nothing is ever downloaded at run time.
    """
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.exists():
        raise MissingWeightsError(
            f"{what}: weights file not found at '{p}'. stylegan_t never downloads weights at run "
            f"time. {how}"
        )
    return p
