"""One permission mode for every file written for the user: checkpoints, exports, pretrained folders, shards.

Atomic writes go through a temporary file (``tempfile.mkstemp`` and safetensors create it owner-only, 0600);
:func:`publish` gives it the mode a plain ``open()`` would (0666 minus the umask) before renaming it over the
target, so a checkpoint, an export and a pretrained folder written by the same user read the same.
"""
from __future__ import annotations

import os
from pathlib import Path


def user_file_mode() -> int:
    """0666 minus the process umask: the permissions of a file written with a plain ``open()``."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Give the finished temporary file ``tmp`` the user file mode and rename it over ``path`` (atomic)."""
    os.chmod(tmp, user_file_mode())
    os.replace(tmp, path)
    return Path(path)
