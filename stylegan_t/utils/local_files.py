"""Offline weight files: resolve a local path or fail with one clear, actionable error."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import MissingWeightsError

__all__ = ["MissingWeightsError", "require_local_file"]


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
