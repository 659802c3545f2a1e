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


#: the prefix of a Hugging Face hub model id (``hf-hub:org/name``), resolved in the local cache only
HF_HUB = "hf-hub:"


def hf_cache_dirs() -> list[Path]:
    """Where a local Hugging Face hub cache may be: ``$HF_HUB_CACHE``, ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``."""
    dirs = []
    for env in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(env):
            dirs.append(Path(os.environ[env]).expanduser())
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    dirs.append(Path.home() / ".cache" / "huggingface" / "hub")
    return list(dict.fromkeys(dirs))


def hf_snapshot(repo_id: str) -> Path:
    """The local snapshot folder of hub model ``org/name`` (``models--org--name/snapshots/<rev>``, the revision
    ``refs/main`` names, else the newest); never downloads. Raises :class:`MissingWeightsError` naming where it looked."""
    name = repo_id[len(HF_HUB):] if repo_id.startswith(HF_HUB) else repo_id
    if name.count("/") != 1 or not all(name.split("/")):
        raise MissingWeightsError(f"'{HF_HUB}{name}' is not a hub model id: expected '{HF_HUB}org/name'")
    looked = []
    for base in hf_cache_dirs():
        repo = base / ("models--" + name.replace("/", "--"))
        looked.append(str(repo))
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        ref = repo / "refs" / "main"
        if ref.is_file() and (snapshots / ref.read_text().strip()).is_dir():
            return snapshots / ref.read_text().strip()
        found = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    raise MissingWeightsError(
        f"'{HF_HUB}{name}' is not in a local Hugging Face cache (looked for {', '.join(looked)}; set HF_HUB_CACHE or "
        "HF_HOME to the cache you copied). stylegan_t never downloads weights at run time"
    )
