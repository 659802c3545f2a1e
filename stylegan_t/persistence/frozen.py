"""Frozen pretrained networks stored by reference inside a module's ``state_dict`` (and so in training checkpoints).

A module lists its frozen networks in ``frozen_networks()`` (``{state-dict prefix: (network, spec)}``);
:class:`FrozenByReference` then leaves their tensors out of ``state_dict`` and fills them from the networks
built now in ``load_state_dict``, and ``frozen_references()`` names each by file and tensor checksum
(:mod:`.references`). The checkpoint holds what was trained.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .checkpoint import fill_frozen, strip_frozen
from .references import FileDigests, make_reference, spec_weights_file


class FrozenByReference:
    """Mixin for a ``torch.nn.Module`` (before it in the bases) whose frozen networks are stored by reference."""

    def frozen_networks(self) -> dict[str, tuple[torch.nn.Module, dict[str, Any]]]:
        """``{state-dict prefix: (network, spec)}`` of the networks rebuilt from their spec, not stored."""
        return {}

    def frozen_references(self) -> dict[str, dict[str, Any]]:
        """``{prefix: reference}``: the weights file and the sha256 of its tensors (once per file), of the network's
        own tensors when it is random."""
        if getattr(self, "_file_digests", None) is None:
            self._file_digests = FileDigests()
        return {
            prefix: make_reference(spec, spec_weights_file(spec), network, self._file_digests)
            for prefix, (network, spec) in self.frozen_networks().items()
        }

    def state_dict(self, *args: Any, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> dict[str, Any]:
        state = super().state_dict(*args, destination=destination, prefix=prefix, keep_vars=keep_vars)
        strip_frozen(state, list(self.frozen_networks()), prefix=prefix)
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        own = torch.nn.Module.state_dict(self, keep_vars=True)
        state_dict = fill_frozen(dict(state_dict), own, list(self.frozen_networks()))
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
