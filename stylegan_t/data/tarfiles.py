"""Writing tar shards: deterministic members, and a tar that is either complete or absent."""
from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager

from ..utils.atomic import atomic_path


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add ``data`` as the regular file ``name`` with mtime 0 and mode 644, so the same input gives the same bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


@contextmanager
def atomic_tar(path: str | os.PathLike) -> Iterator[tarfile.TarFile]:
    """A USTAR tar written under ``<path>.tmp`` and renamed to ``path`` only when the block completes."""
    with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        yield tar
