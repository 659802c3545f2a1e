"""Checkpoint files that survive a kill and never run code: atomic writes, weights-only reads, resume checks.

- :class:`AtomicCheckpointIO` writes to a temporary file in the checkpoint's folder, flushes it to disk and
  renames it over the target (``os.replace``), so a run killed mid-write keeps its previous ``last.ckpt``.
  It always reads through ``stylegan_t.persistence`` (weights only), even where the environment overrides torch's
  default (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``): a hostile file cannot execute code.
- :func:`resolve_resume` turns ``--resume last`` / a path into a checkpoint that is known to be readable;
  a damaged ``last.ckpt`` falls back to the newest intact epoch checkpoint with a warning.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Callable

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..errors import CheckpointError
from ..persistence import read_training_checkpoint
from ..persistence.formats import CONFIG_NAME, EXPECTED
from ..persistence.generator_files import sniff
from ..utils.atomic import atomic_path

log = logging.getLogger(__name__)

EPOCH_CHECKPOINT = re.compile(r"epoch(\d+)\.ckpt$")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O: temp file + fsync + ``os.replace`` on save, ``weights_only=True`` on load."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        atomic_torch_save(checkpoint, Path(path))

    def load_checkpoint(
        self, path: Any, map_location: Callable | None = lambda storage, loc: storage, weights_only: bool | None = None
    ) -> dict[str, Any]:
        # weights_only is forced: our checkpoints are plain data, and an explicit True beats torch's env override.
        return load_checkpoint_file(Path(path), map_location=map_location)


def atomic_torch_save(obj: Any, path: Path, *, save: Callable[[Any, Any], None] | None = None) -> None:
    """``save(obj, file)`` (default ``torch.save``) written atomically and durably (:func:`atomic_path`)."""
    save = save or torch.save
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        save(obj, f)


def load_checkpoint_file(path: Path, *, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """A stylegan_t training checkpoint read with ``weights_only=True``; anything else -> :class:`CheckpointError`."""
    return read_training_checkpoint(path, map_location=map_location, mmap=mmap)


def checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` cannot be resumed from (one line), or None when it reads as a stylegan_t checkpoint.

    Uses ``mmap=True``: the structure is read and checked, the tensor bytes are mapped, not copied.
    """
    try:
        load_checkpoint_file(path, mmap=True)
    except CheckpointError as err:
        return str(err)
    return None


def epoch_checkpoints(folder: Path) -> list[Path]:
    """``epochNNNN.ckpt`` files in ``folder``, newest epoch first."""
    found = [(int(m.group(1)), p) for p in folder.glob("epoch*.ckpt") if (m := EPOCH_CHECKPOINT.search(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def newest_intact_epoch_checkpoint(folder: Path) -> Path | None:
    return next((p for p in epoch_checkpoints(folder) if checkpoint_problem(p) is None), None)


def resolve_resume(resume: str | os.PathLike | None, run_dir: str | os.PathLike) -> Path | None:
    """The checkpoint to resume from, checked before any model is built.

    ``"last"``: the run's ``checkpoints/last.ckpt``; if it is damaged, the newest intact
    ``epochNNNN.ckpt`` beside it with a warning naming both (none intact: :class:`CheckpointError`).
    A path: used as given when readable, else :class:`CheckpointError` naming it (and, when it sits
    in a checkpoint folder, the newest intact checkpoint there). Sharded (folder) checkpoints pass unchecked.
    """
    if resume is None:
        return None
    folder = Path(run_dir) / "checkpoints"
    if str(resume) != "last":
        path = Path(resume)
        if path.is_dir() and not (path / CONFIG_NAME).is_file():
            return path  # a distributed (sharded) checkpoint: Lightning's strategy reads it
        problem = checkpoint_problem(path)
        if problem and path.exists() and sniff(path) in ("safetensors", "pretrained"):
            problem = (f"'{path}' is a generator export, not a training checkpoint (it holds no discriminator or "
                       "optimizer state)")
        if problem:
            fallback = newest_intact_epoch_checkpoint(path.parent) if path.parent.is_dir() else None
            # --resume reads training checkpoints only: the generic tail (exports, folders) would mislead
            problem = "--resume " + problem.removesuffix("; " + EXPECTED)
            raise CheckpointError(problem + (f"; the newest intact checkpoint there is '{fallback}'" if fallback else
                                             "; give a .ckpt written by `stylegan-t fit` or 'last'"))
        return path
    last = folder / "last.ckpt"
    if last.is_dir():
        return last
    if not last.exists():
        raise CheckpointError(f"--resume last, but '{last}' does not exist (no checkpoint written yet in run.dir)")
    problem = checkpoint_problem(last)
    if problem is None:
        return last
    fallback = newest_intact_epoch_checkpoint(folder)
    if fallback is None:
        raise CheckpointError(f"{problem}; no intact epochNNNN.ckpt in '{folder}' to resume from instead")
    log.warning("%s; resuming from the newest intact epoch checkpoint '%s' instead", problem, fallback)
    return fallback
