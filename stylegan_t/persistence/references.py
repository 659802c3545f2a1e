"""Frozen pretrained networks stored by reference: their spec, the weights file and its sha256 checksum.

A reference is a plain dict (it goes into checkpoint metadata and JSON): ``spec`` (what rebuilds the
network: model name, pretrained file or tag, seed), ``file`` (the weights file it was built from, or None
for a randomly initialised network) and ``sha256`` (of that file; for a random network, of its tensors, so
that a rebuild from its seed is checked as well).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, MissingWeightsError

_CHUNK = 16 << 20


class FileDigests:
    """sha256 of files, computed once per (path, mtime, size): a GiB file takes seconds to hash; likewise of a
    module's tensors, once per (module, tensor storage, in-place version)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], str] = {}
        self._tensors: dict[tuple, str] = {}

    def tensors(self, module: nn.Module) -> str:
        """:func:`tensors_sha256` of ``module``, recomputed only after its tensors changed or moved."""
        state = module.state_dict(keep_vars=True)
        key = (id(module), tuple((k, t.data_ptr(), t._version) for k, t in state.items()))
        if key not in self._tensors:
            self._tensors[key] = tensors_sha256(module)
        return self._tensors[key]

    def sha256(self, path: str | os.PathLike) -> str:
        p = Path(path).expanduser().resolve()
        stat = p.stat()
        key = (str(p), stat.st_mtime_ns, stat.st_size)
        if key not in self._cache:
            digest = hashlib.sha256()
            with open(p, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
            self._cache[key] = digest.hexdigest()
        return self._cache[key]


def tensors_sha256(module: nn.Module) -> str:
    """sha256 over a module's persistent tensors (names, dtypes, shapes, bytes) in key order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy())  # the buffer itself, no bytes copy
    return digest.hexdigest()


def open_clip_weights_file(model: str, pretrained: str | None) -> Path | None:
    """The local file an open_clip spec loads (a ``local-dir:`` folder's weights, a path or a tag); None if random."""
    from ..models.open_clip_loader import _WEIGHT_FILES_IN_DIR, LOCAL_DIR, resolve_pretrained

    resolved = resolve_pretrained(model, pretrained)  # raises MissingWeightsError naming the file
    if model.startswith(LOCAL_DIR):
        folder = Path(model[len(LOCAL_DIR):]).expanduser()
        return next(folder / f for f in _WEIGHT_FILES_IN_DIR if (folder / f).is_file())
    return Path(resolved) if resolved else None


def spec_weights_file(spec: Mapping[str, Any]) -> Path | None:
    """The weights file a frozen network's spec names (``network``: text_encoder, clip_guidance, feature_network)."""
    if spec.get("network") == "feature_network":
        if spec.get("kind") == "open_clip":
            return open_clip_weights_file(spec["model"], spec.get("weights"))
        from ..models.discriminator.feature_networks import resolve_feature_weights

        return resolve_feature_weights(spec.get("weights"))
    return open_clip_weights_file(spec["model"], spec.get("pretrained"))


def make_reference(spec: Mapping[str, Any], file: str | os.PathLike | None, module: nn.Module, digests: FileDigests) -> dict[str, Any]:
    """The reference of a frozen network built from ``spec`` (and ``file``, None when randomly initialised)."""
    if file is None:
        return {"spec": dict(spec), "file": None, "sha256": digests.tensors(module)}
    path = Path(file).expanduser()
    return {"spec": dict(spec), "file": str(path), "sha256": digests.sha256(path)}


def verify_reference(
    stored: Mapping[str, Any], current: Mapping[str, Any] | None, *, name: str, source: str
) -> None:
    """Raise if the network built now is not the one ``stored`` names: other file, other checksum, or not built."""
    expected_file, expected_sha = stored.get("file"), stored.get("sha256")
    what = f"{source}: frozen network '{name}'"
    if current is None:
        raise CheckpointError(
            f"{what} is stored by reference ({_describe(stored)}) but this model has no such network; "
            "build the model from the same recipe"
        )
    if expected_file is not None and current.get("file") is None:
        raise CheckpointError(f"{what} was built from '{expected_file}' (sha256 {expected_sha}) but is now randomly initialised; "
                              "set its pretrained weights file")
    if current.get("sha256") != expected_sha:
        found = current.get("file") or "random initialisation"
        raise CheckpointError(
            f"{what}: expected {_describe(stored)}, found '{found}' with sha256 {current.get('sha256')}. "
            "Supply the file the checkpoint was trained with (same checksum)"
        )


def _describe(ref: Mapping[str, Any]) -> str:
    if ref.get("file"):
        return f"file '{ref['file']}' with sha256 {ref.get('sha256')}"
    return f"random initialisation {ref.get('spec')} with tensor sha256 {ref.get('sha256')}"


def missing_file_error(ref: Mapping[str, Any], err: Exception, *, name: str, source: str) -> MissingWeightsError:
    """The error for a referenced weights file that cannot be found: which file, which checksum."""
    return MissingWeightsError(
        f"{source}: frozen network '{name}' is stored by reference to {_describe(ref)}, which cannot be loaded: {err}"
    )
