"""Atomic, durable writes with one file mode: every file written for the user goes through :func:`atomic_path`.

The content is written to a temporary file beside the target, flushed to disk, given the mode a plain ``open()``
would (0666 minus the umask; ``mkstemp`` and safetensors create files owner-only), renamed over the target and
the rename made durable. A write that fails or is killed leaves the previous file intact and no temporary file
behind (a kill at the wrong instant can leave a ``.*.tmp``, which is safe to delete).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def user_file_mode() -> int:
    """0666 minus the process umask: the permissions of a file written with a plain ``open()``."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Flush a file (or, for a rename, its folder) to disk; a no-op where the platform cannot."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """``with atomic_path(target) as tmp: write(tmp)``: ``target`` appears whole, or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, user_file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(path.parent, folder=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """A small text file (JSON, YAML), written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
