"""Output paths checked before any work: a folder or file the command will write can be written.

Nothing is created by a check (a command that fails a later check leaves no empty folder behind); a missing
folder is judged by its nearest existing parent. Each failure is one :class:`UserError` line naming the option.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import UserError


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be written in ``folder``, or None when they can."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return "Not a directory"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-test-"):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def check_writable_dir(path: str | os.PathLike, option: str) -> Path:
    """Prove folder ``path`` can be made (it is not created here) and written in; else one line naming it."""
    folder = Path(path)
    reason = _unwritable(folder)
    if reason:
        raise UserError(f"{option} '{folder}' is not a writable folder ({reason})")
    return folder


def check_writable_file(path: str | os.PathLike, option: str) -> Path:
    """``path`` is not a folder and a file can be written in its parent folder (not created here)."""
    file = Path(path)
    if file.is_dir():
        raise UserError(f"{option} '{file}' is a folder; give a file name")
    reason = _unwritable(file.parent)
    if reason:
        raise UserError(f"{option} '{file}': cannot write into folder '{file.parent}' ({reason})")
    return file
