"""The one strict state-dict loader: an error lists every missing, unexpected and mis-shaped key."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from ..errors import CheckpointError


class CheckpointLoadError(CheckpointError):
    """A file that is not (or not a readable) stylegan_t checkpoint, export or pretrained folder."""


class CheckpointNotFoundError(CheckpointLoadError, FileNotFoundError):
    """The checkpoint / export path does not exist."""


class StateMismatchError(CheckpointLoadError):
    """A state dict does not fit the model; ``missing``, ``unexpected`` and ``mismatched`` list the keys."""

    def __init__(self, source: str, *, missing: list[str], unexpected: list[str], mismatched: list[str] = ()) -> None:
        lines = [f"{source} does not fit the model:"]
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
            if keys:
                shown = ", ".join(keys[:20]) + (f", ... ({len(keys) - 20} more)" if len(keys) > 20 else "")
                lines.append(f" {label} ({len(keys)}): {shown}")
        super().__init__("\n".join(lines))
        self.missing, self.unexpected, self.mismatched = missing, unexpected, list(mismatched)


def _under(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def load_state_strict(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    by_reference: Iterable[str] = (),
    partial: bool = False,
) -> None:
    """Copy ``state`` into ``module``: every key must fit, dtypes are cast to the module's.

    Keys under the ``by_reference`` prefixes (frozen networks already built from their reference) may be
    absent; with ``partial`` any key may be absent (it keeps its value: ``model.init_from``). A stored 0-d
    tensor fills a one-element parameter (original checkpoints store some scalars).
    """
    prefixes = tuple(by_reference)
    own = module.state_dict()
    state = {k: v.reshape(own[k].shape) if k in own and v.ndim == 0 and own[k].numel() == 1 else v for k, v in state.items()}
    missing = [] if partial else sorted(k for k in set(own) - set(state) if not _under(k, prefixes))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k}: file {list(v.shape)} vs model {list(own[k].shape)}" for k, v in state.items() if k in own and v.shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        raise StateMismatchError(source, missing=missing, unexpected=unexpected, mismatched=mismatched)
    full = dict(own)
    full.update({k: v.to(own[k].dtype) for k, v in state.items()})
    module.load_state_dict(full, strict=True)


def without_prefixes(state: Mapping[str, torch.Tensor], prefixes: Iterable[str]) -> dict[str, torch.Tensor]:
    """``state`` without the keys under ``prefixes`` (frozen networks stored by reference)."""
    prefixes = tuple(prefixes)
    return {k: v for k, v in state.items() if not _under(k, prefixes)}


def _storage_key(t: torch.Tensor) -> tuple:
    return (t.device, t.untyped_storage().data_ptr())


def dedupe_for_safetensors(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """safetensors refuses tensors that share memory: keep one copy of identical views (``aliases``), clone partial overlaps."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, list[tuple[str, torch.Tensor]]] = {}
    for key, value in state.items():
        value = value.detach()
        group = seen.setdefault(_storage_key(value), [])
        same = next(
            (k for k, t in group if t.shape == value.shape and t.stride() == value.stride()
             and t.storage_offset() == value.storage_offset() and t.dtype == value.dtype),
            None,
        )
        if same is not None:
            aliases[key] = same  # a tied weight: store it once
            continue
        group.append((key, value))
        whole = value.is_contiguous() and value.storage_offset() == 0 and value.untyped_storage().nbytes() == value.nbytes
        tensors[key] = value.cpu().contiguous() if whole and len(group) == 1 else value.cpu().clone().contiguous()
    return tensors, aliases
