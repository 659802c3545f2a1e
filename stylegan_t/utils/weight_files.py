"""The one reader of pretrained weight files, by content: safetensors, torch zip archive or legacy torch pickle.

A file is recognised by its first bytes, whatever its name (``.safetensors``, ``.bin``, ``.pt``, ``.pth``), and
read as plain data only (``weights_only``): no code from a file ever runs. The same module reads a file's key
names and shapes cheaply (the safetensors header; a memory-mapped torch archive) so that a file can be checked
against an architecture built on the meta device before any model is built, and gives each file's identity:
a sha256 of its tensors (names, dtypes, shapes, values), the same for the same weights in any container,
cached beside the file keyed by its size and modification time.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import struct
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import MissingWeightsError, WeightsFileError
from .atomic import atomic_write_text

__all__ = [
    "SAFETENSORS", "TORCH_ZIP", "TORCH_PICKLE", "weights_format", "read_weights", "read_weight_shapes",
    "shape_differences", "check_fits", "load_fitting", "state_sha256", "weights_sha256",
]

#: the container formats :func:`weights_format` tells apart by content
SAFETENSORS, TORCH_ZIP, TORCH_PICKLE = "safetensors", "torch zip archive", "legacy torch pickle"
#: wrappers around a state dict that are unwrapped (training checkpoints of open_clip, DINO, ...)
WRAPPER_KEYS = ("state_dict", "model", "teacher", "module")
#: the sidecar holding a file's tensor digest: ``<file name>`` + this suffix, in the file's folder
DIGEST_SUFFIX = ".tensors-sha256.json"
_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
_digests: dict[tuple[str, int, int, int], str] = {}


def weights_format(path: str | os.PathLike) -> str | None:
    """:data:`SAFETENSORS`, :data:`TORCH_ZIP` or :data:`TORCH_PICKLE` from the file's first bytes, else None."""
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04":
        return TORCH_ZIP
    if head[:1] == b"\x80":  # a pickle's protocol opcode: torch.save's legacy format
        return TORCH_PICKLE
    if len(head) == 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if 0 < n <= os.path.getsize(path) - 8:
            return SAFETENSORS
    return None


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.is_file():
        raise MissingWeightsError(f"{what}: weights file not found at '{p}'" + (" (it is a folder)" if p.is_dir() else ""))
    return p


def _format_or_raise(path: Path, what: str) -> str:
    kind = weights_format(path)
    if kind is None:
        with open(path, "rb") as f:
            head = f.read(8)
        raise WeightsFileError(
            f"{what}: '{path}' is not a weights file (neither safetensors, a torch zip archive nor a torch pickle; "
            f"it starts with {head!r})"
        )
    return kind


def _torch_load(path: Path, kind: str, what: str, *, mmap: bool) -> Any:
    try:
        with warnings.catch_warnings():
            # torch warns that a pickle of protocol > 2 "might not" load weights-only; the load itself answers that
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            if path.name.endswith(".safetensors"):  # torch.load would take the name's word for it: hand it the bytes
                with open(path, "rb") as f:
                    return torch.load(f, map_location="cpu", weights_only=True)
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and kind == TORCH_ZIP)
    except pickle.UnpicklingError as err:
        refused = re.search(r"GLOBAL (\S+)", str(err))
        found = f" (it names {refused.group(1)})" if refused else ""
        raise WeightsFileError(
            f"{what}: '{path}' holds Python objects besides tensors{found}; weights are read as plain data only, "
            "no code from a file runs: save model.state_dict() or a safetensors file"
        ) from None
    except Exception as err:  # noqa: BLE001  (truncated archive, bad pickle stream, TorchScript archive, ...)
        raise WeightsFileError(f"{what}: '{path}' ({kind}) cannot be read, it may be truncated or damaged ({_first_line(err)})") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


def unwrap(obj: Any, *, path: Path, what: str, strip: Sequence[str] = ("module.",)) -> dict[str, torch.Tensor]:
    """The state dict inside ``obj``: wrappers (``state_dict``, ``model``, ``teacher``, ``module``) unwrapped, a
    prefix in ``strip`` that every key carries removed (DDP's ``module.``); anything else is refused."""
    while isinstance(obj, Mapping) and any(isinstance(obj.get(k), Mapping) for k in WRAPPER_KEYS):
        obj = next(obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping))
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        found = f"a {type(obj).__name__}" if not isinstance(obj, Mapping) else f"a dict with keys {list(obj)[:5]}"
        raise WeightsFileError(f"{what}: '{path}' holds {found}, not a state dict of tensors")
    state = dict(obj)
    for prefix in strip:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def read_weights(
    path: str | os.PathLike, *, what: str = "weights", mmap: bool = False, strip: Sequence[str] = ("module.",)
) -> dict[str, torch.Tensor]:
    """The state dict of a weights file in any of the three containers (see :func:`unwrap`); ``mmap`` maps a
    torch archive's tensor bytes instead of reading them. Raises :class:`WeightsFileError` in one line."""
    p = _existing_file(path, what)
    kind = _format_or_raise(p, what)
    if kind == SAFETENSORS:
        from safetensors.torch import load_file

        try:
            obj = load_file(str(p), device="cpu")
        except Exception as err:  # noqa: BLE001
            raise WeightsFileError(f"{what}: '{p}' (safetensors) cannot be read, it may be truncated ({_first_line(err)})") from None
    else:
        obj = _torch_load(p, kind, what, mmap=mmap)
    return unwrap(obj, path=p, what=what, strip=strip)


def _safetensors_header(path: Path, what: str) -> dict[str, torch.Tensor]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise WeightsFileError(f"{what}: '{path}' (safetensors) has a damaged header ({_first_line(err)})") from None
    out = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(entry.get("dtype"))
        end = 8 + n + int(entry.get("data_offsets", [0, 0])[1])
        if end > size:
            raise WeightsFileError(f"{what}: '{path}' (safetensors) is truncated: tensor '{key}' ends at byte {end} of {size}")
        out[key] = torch.empty(entry["shape"], dtype=dtype or torch.uint8, device="meta")
    return out


def read_weight_shapes(path: str | os.PathLike, *, what: str = "weights", strip: Sequence[str] = ("module.",)) -> dict[str, torch.Tensor]:
    """The file's state dict as meta tensors (names, shapes, dtypes, no values), read cheaply: the safetensors
    header, or a memory-mapped torch archive (a legacy pickle is read whole)."""
    p = _existing_file(path, what)
    kind = _format_or_raise(p, what)
    if kind == SAFETENSORS:
        return unwrap(_safetensors_header(p, what), path=p, what=what, strip=strip)
    state = unwrap(_torch_load(p, kind, what, mmap=True), path=p, what=what, strip=strip)
    return {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state.items()}


def shape_differences(found: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> list[str]:
    """Each key that differs between a file's tensors and a model's, as ``missing x [shape]``, ``unexpected x``
    or ``x: file [..] vs model [..]``, in the model's key order (unexpected ones last)."""
    out = []
    for key, want in expected.items():
        if key not in found:
            out.append(f"missing {key} {list(want.shape)}")
        elif tuple(found[key].shape) != tuple(want.shape):
            out.append(f"{key}: file {list(found[key].shape)} vs model {list(want.shape)}")
    out += [f"unexpected {key} {list(v.shape)}" for key, v in found.items() if key not in expected]
    return out


def check_fits(found: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], *, source: str, what: str, shown: int = 3) -> None:
    """Raise :class:`WeightsFileError` (one line naming ``source``, e.g. the quoted file, and the first keys that
    differ) unless every key and shape of ``found`` matches ``expected``."""
    diffs = shape_differences(found, expected)
    if diffs:
        more = f", ... ({len(diffs) - shown} more)" if len(diffs) > shown else ""
        raise WeightsFileError(
            f"{what}: {source} does not fit the architecture ({len(found)} tensors in the file, {len(expected)} in the "
            f"model; {len(diffs)} differ: {'; '.join(diffs[:shown])}{more})"
        )


def load_fitting(module: torch.nn.Module, state: Mapping[str, torch.Tensor], *, source: str, what: str) -> None:
    """Copy a weights file's ``state`` into ``module`` after :func:`check_fits` (dtypes cast to the module's)."""
    own = module.state_dict()
    check_fits(state, own, source=source, what=what)
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def state_sha256(state: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]) -> str:
    """sha256 over tensors (name, dtype, shape, bytes) in key order: the same weights give the same digest in any
    container or module."""
    digest = hashlib.sha256()
    items = state.items() if isinstance(state, Mapping) else state
    for name, tensor in sorted(items, key=lambda kv: kv[0]):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy())  # the buffer itself, no bytes copy
    return digest.hexdigest()


def _file_tensors_sha256(path: Path) -> str:
    if weights_format(path) != SAFETENSORS:
        return state_sha256(read_weights(path, mmap=True))
    from safetensors import safe_open  # tensor by tensor: never the whole file in memory at once

    stored = list(read_weight_shapes(path, strip=()))
    cut = len("module.") if all(k.startswith("module.") for k in stored) else 0  # as read_weights strips it
    digest = hashlib.sha256()
    with safe_open(str(path), framework="pt", device="cpu") as f:
        for name in sorted(stored, key=lambda k: k[cut:]):
            t = f.get_tensor(name).contiguous()
            digest.update(f"{name[cut:]}|{t.dtype}|{list(t.shape)}|".encode())
            if t.numel():
                digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def weights_sha256(path: str | os.PathLike) -> str:
    """:func:`state_sha256` of a weights file's state dict, computed once per (file, size, mtime, inode): kept in memory
    and in a sidecar ``<file>.tensors-sha256.json`` beside it (skipped where the folder is read-only)."""
    p = _existing_file(path, "weights")
    stat = p.stat()
    key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
    if key in _digests:
        return _digests[key]
    sidecar = p.with_name(p.name + DIGEST_SUFFIX)
    try:
        cached = json.loads(sidecar.read_text())
        if [cached.get("size"), cached.get("mtime_ns"), cached.get("inode")] == [stat.st_size, stat.st_mtime_ns, stat.st_ino]:
            _digests[key] = str(cached["tensors_sha256"])
            return _digests[key]
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    value = _file_tensors_sha256(p)
    _digests[key] = value
    try:
        atomic_write_text(sidecar, json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino,
                                                "tensors_sha256": value}))
    except OSError:
        pass
    return value
