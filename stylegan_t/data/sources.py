"""Shard URL expansion: brace patterns, lists, folders of .tar files, pipe:, http(s), s3."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from braceexpand import braceexpand


def _as_list(urls: Any) -> list[str]:
    if urls is None:
        return []
    if isinstance(urls, (str, os.PathLike)):
        return [os.fspath(urls)]
    if isinstance(urls, Iterable):
        out: list[str] = []
        for item in urls:
            out += _as_list(item)
        return out
    raise TypeError(f"shard urls must be a string or a list of strings, got {type(urls).__name__}")


def expand_urls(urls: Any) -> list[str]:
    """Every shard URL named by ``urls``; ``s3://`` becomes ``pipe:aws s3 cp <url> -`` (webdataset has no s3 scheme)."""
    shards: list[str] = []
    for pattern in _as_list(urls):
        pattern = pattern.strip()
        if not pattern:
            continue
        if is_local_path(pattern) and Path(pattern).expanduser().is_dir():
            shards += sorted(str(p) for p in Path(pattern).expanduser().glob("*.tar"))
            continue
        for url in braceexpand(pattern):
            shards.append(f"pipe:aws s3 cp {url} -" if url.startswith("s3://") else url)
    return shards


def is_image_folder(urls: Any) -> bool:
    """True for a single local folder that holds images but no .tar shards."""
    items = _as_list(urls)
    if len(items) != 1 or "://" in items[0] or items[0].startswith("pipe:"):
        return False
    folder = Path(items[0]).expanduser()
    return folder.is_dir() and not any(folder.glob("*.tar"))


def is_local_path(url: str) -> bool:
    """A plain file path (no ``scheme://`` and no ``pipe:``)."""
    return "://" not in url and not url.startswith(("pipe:", "file:"))
