"""Convert a snapshot file into a generator export or pretrained folder (no Lightning needed).

:func:`write_generator` is the one place this package hands a network to the file formats. A training
checkpoint to continue the original run is written by :mod:`stylegan_t.training.snapshot_checkpoint`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..models.generator import Generator
from .snapshot import generator_from_snapshot, read_snapshot


def write_generator(generator: Generator, out: Path, *, source: dict[str, Any]) -> Path:
    """``out.safetensors``: a single-file export; any other path: a pretrained folder (where supported)."""
    from ..persistence import settle_tower_reference, write_export, write_pretrained

    settle_tower_reference(generator)  # the snapshot's tower is stored by value unless it equals its spec's file
    if out.suffix == ".safetensors":
        return write_export(out, generator, source=source)
    write_pretrained(out, generator)
    return out


def convert_snapshot(snapshot_path: str | os.PathLike, out: str | os.PathLike, *, text_arch: str | None = None) -> dict[str, Path]:
    """``G_ema`` of an original snapshot -> ``out`` (``.safetensors``: an export; else a pretrained folder)."""
    snapshot = read_snapshot(snapshot_path)
    source = {"kind": "official-snapshot", "file": snapshot.path.name, "kimg": snapshot.kimg}
    G_ema = generator_from_snapshot(snapshot, "G_ema", text_arch=text_arch)
    return {"generator": write_generator(G_ema, Path(out), source=source)}


__all__ = ["convert_snapshot", "write_generator"]
