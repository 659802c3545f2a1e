"""Frozen pretrained networks stored by reference: their spec, the weights file and the sha256 of its tensors.

A reference is a plain dict (it goes into checkpoint metadata and JSON): ``spec`` (what rebuilds the
network: model name, pretrained file or tag, seed), ``file`` (the weights file it was built from, or None
for a randomly initialised network) and ``tensors_sha256``: the identity of the weights, a sha256 over the
tensors' names, dtypes, shapes and values (:func:`stylegan_t.utils.weight_files.state_sha256`), of the file's
state dict or, for a random network, of the module's tensors (so a rebuild from its seed is checked as well).
The same weights in another container (``.bin`` instead of ``.safetensors``) or another folder match; a
changed tensor does not. References written before hold ``sha256``: of the file's bytes (of the tensors for a
random network); they still verify.

A relative path in a spec (``local-dir:runs/demo/tiny_clip``) was relative to the working directory of the
run: :func:`relocate` also finds it relative to the folder of the file that stores the reference and that
folder's parents, so a checkpoint can be served from any folder.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import CheckpointError, MissingWeightsError
from ..utils.local_files import HF_HUB
from ..utils.weight_files import state_sha256, weights_sha256

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
    return state_sha256(module.state_dict())


def open_clip_weights_file(model: str, pretrained: str | None) -> Path | None:
    """The local file an open_clip spec loads (a model folder's weights, a path, an ``hf-hub:`` id or a tag);
    None if random."""
    from ..models.open_clip_loader import resolve_pretrained

    resolved = resolve_pretrained(model, pretrained)  # raises MissingWeightsError naming the file
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
        return {"spec": dict(spec), "file": None, "tensors_sha256": digests.tensors(module)}
    path = Path(file).expanduser()
    return {"spec": dict(spec), "file": str(path), "tensors_sha256": weights_sha256(path)}


def _identity(stored: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(stored identity, the current network's identity in the same terms): tensor digests, or for a reference
    written before tensor digests the sha256 of the current file's bytes."""
    if "tensors_sha256" in stored or stored.get("file") is None:
        return stored.get("tensors_sha256", stored.get("sha256")), current.get("tensors_sha256", current.get("sha256"))
    file = current.get("file")
    return stored.get("sha256"), (FileDigests().sha256(file) if file and Path(file).expanduser().is_file() else None)


def verify_reference(
    stored: Mapping[str, Any], current: Mapping[str, Any] | None, *, name: str, source: str
) -> None:
    """Raise if the network built now is not the one ``stored`` names: other weights, or not built."""
    expected_file = stored.get("file")
    what = f"{source}: frozen network '{name}'"
    if current is None:
        raise CheckpointError(
            f"{what} is stored by reference ({_describe(stored)}) but this model has no such network; "
            "build the model from the same recipe"
        )
    if expected_file is not None and current.get("file") is None:
        raise CheckpointError(f"{what} was built from {_describe(stored)} but is now randomly initialised; "
                              "set its pretrained weights file")
    expected, found = _identity(stored, current)
    if found != expected:
        raise CheckpointError(
            f"{what}: expected {_describe(stored)}, found {_describe(current)}. "
            "Supply the weights the checkpoint was trained with (the same tensors, in any file format)"
        )


def _describe(ref: Mapping[str, Any]) -> str:
    if "tensors_sha256" in ref or not ref.get("file"):
        identity = f"tensor sha256 {ref.get('tensors_sha256', ref.get('sha256'))}"
    else:
        identity = f"file sha256 {ref.get('sha256')}"
    if ref.get("file"):
        return f"file '{ref['file']}' with {identity}"
    return f"random initialisation {ref.get('spec')} with {identity}"


def anchors_of(path: str | os.PathLike) -> list[Path]:
    """The folders a relative reference in the file at ``path`` may be relative to: the file's folder (the folder
    itself for a pretrained folder) and each of its parents."""
    p = Path(path).expanduser().absolute()
    first = p if p.is_dir() else p.parent
    return [first, *first.parents]


def relocate(value: str | None, anchors: list[Path]) -> str | None:
    """``value`` (a path, ``local-dir:<path>`` or a tag) with a relative path that does not exist from the working
    directory replaced by the first anchor folder under which it exists; anything else unchanged."""
    from ..models.open_clip_loader import _WEIGHT_SUFFIXES, LOCAL_DIR

    if not value or value.startswith(HF_HUB):
        return value
    prefix = LOCAL_DIR if value.startswith(LOCAL_DIR) else ""
    rel = Path(value[len(prefix):]).expanduser()
    is_tag = not prefix and os.sep not in value and rel.suffix not in _WEIGHT_SUFFIXES
    if is_tag or rel.is_absolute() or rel.exists():
        return value
    for anchor in anchors:
        if (anchor / rel).exists():
            return prefix + str(anchor / rel)
    return value


def missing_file_error(ref: Mapping[str, Any], err: Exception, *, name: str, source: str, anchors: list[Path] = ()) -> MissingWeightsError:
    """The error for a referenced weights file that cannot be found: which file, which weights, where it was looked for."""
    looked = f" (looked from the working directory '{Path.cwd()}'"
    looked += f" and from '{anchors[0]}' and its parents)" if anchors else ")"
    return MissingWeightsError(
        f"{source}: frozen network '{name}' is stored by reference to {_describe(ref)}, which cannot be loaded{looked}: "
        f"{' '.join(str(err).split())}"
    )
