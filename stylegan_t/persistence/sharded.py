"""Sharded training checkpoints (``strategy: fsdp``): a folder that Lightning's FSDP2 strategy writes with
``torch.distributed.checkpoint`` (``.metadata``, one ``__R_0.distcp`` per rank, ``meta.pt`` for the rest).

:func:`read_sharded_checkpoint` reads one on a single process, with no process group, into the same dict an
ordinary ``.ckpt`` holds (``state_dict`` with full tensors, ``hyper_parameters``, ``stylegan_t``, ...; optimizer
states are left out), so every reader takes both. Nothing in the folder can run code: ``meta.pt`` is read
weights-only, the tensor files by torch's weights-only loader, and the pickled ``.metadata`` index by an
unpickler that knows only the index's own classes.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from .formats import STATE_DICT
from .strict import CheckpointLoadError

#: files of a sharded checkpoint folder: the tensor index and Lightning's non-tensor part
INDEX_FILE = ".metadata"
META_FILE = "meta.pt"

_INDEX_MODULE = "torch.distributed.checkpoint.metadata"
#: the globals a checkpoint index may name: its dataclasses and enums, tensor properties, paths
_INDEX_GLOBALS = {
    (_INDEX_MODULE, name) for name in (
        "Metadata", "TensorStorageMetadata", "TensorProperties", "ChunkStorageMetadata", "BytesStorageMetadata",
        "MetadataIndex", "StorageMeta", "_MEM_FORMAT_ENCODING",
    )
} | {
    ("torch.distributed.checkpoint.filesystem", "_StorageInfo"), ("torch", "Size"),
    ("torch.serialization", "_get_layout"), ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"),
    ("collections", "OrderedDict"),
}


class _IndexUnpickler(pickle.Unpickler):
    """Unpickles a checkpoint index: only the classes above and torch dtypes; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _INDEX_GLOBALS:
            return super().find_class(module, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not part of a checkpoint index")


def is_sharded_checkpoint(path: str | os.PathLike) -> bool:
    """A folder holding a sharded checkpoint's index and Lightning's ``meta.pt``."""
    path = Path(path)
    return path.is_dir() and (path / INDEX_FILE).is_file() and (path / META_FILE).is_file()


def read_index(path: Path) -> Any:
    try:
        with open(path / INDEX_FILE, "rb") as f:
            return _IndexUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as err:
        raise CheckpointLoadError(f"'{path / INDEX_FILE}' is not a readable checkpoint index ({err})") from None


def _load(path: Path, index: Any, keys: set[str] | None) -> dict[str, Any]:
    """Items of a sharded checkpoint (``keys``: top-level names or flattened keys; None = all) on this process;
    tensors through torch's weights-only loader, other items through ``torch.load(weights_only=True)``."""
    from torch.distributed.checkpoint import FileSystemReader
    from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner, set_element
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    class Reader(FileSystemReader):
        def read_metadata(self, *args: Any, **kwargs: Any) -> Any:
            return index

    class Planner(_EmptyStateDictLoadPlanner):
        def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:  # torch's own default allows any pickle
            obj = torch.load(value, weights_only=True)
            if self.flatten_state_dict:
                set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
            else:
                self.state_dict[read_item.dest_index.fqn] = obj

    state: dict[str, Any] = {}
    try:
        _load_state_dict(state, storage_reader=Reader(path), planner=Planner(keys=keys), no_dist=True)
    except Exception as err:  # a missing or truncated shard file, an item that is not plain data
        first = " ".join(str(err).split())[:200]
        raise CheckpointLoadError(f"sharded checkpoint '{path}' could not be read ({type(err).__name__}: {first})") from None
    return state


def verify_sharded_checkpoint(path: str | os.PathLike) -> None:
    """Before Lightning resumes from a folder (it unpickles the index and non-tensor items with plain pickle):
    prove that the index and every non-tensor item are plain data. Tensors are not read."""
    from torch.distributed.checkpoint.metadata import BytesStorageMetadata

    path = Path(path)
    index = read_index(path)
    plain = {key for key, item in index.state_dict_metadata.items() if isinstance(item, BytesStorageMetadata)}
    if plain:
        _load(path, index, plain)


def read_sharded_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``meta.pt`` plus the full model ``state_dict`` of a sharded checkpoint folder, on this process alone."""
    from .checkpoint import torch_load

    path = Path(path)
    ckpt = torch_load(path / META_FILE)
    if not isinstance(ckpt, dict):
        raise CheckpointLoadError(f"'{path / META_FILE}' is not a checkpoint's metadata dict")
    state = _load(path, read_index(path), {STATE_DICT})
    ckpt[STATE_DICT] = dict(state.get(STATE_DICT, {}))
    return ckpt
