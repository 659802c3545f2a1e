"""Exponential moving average of the generator, with a half-life in images (as in the original release).

``ema_beta`` (the decay per step) lives in :mod:`stylegan_t.training.step_math` with the rest of the step math.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from .step_math import ema_beta

__all__ = ["GeneratorEMA", "ema_beta"]


class GeneratorEMA(nn.Module):
    """A frozen copy of a generator whose parameters track the live one; buffers are copied as they are.

    ``shared`` submodules (frozen pretrained networks, e.g. an untrained text tower) are not copied: the
    EMA generator uses the live generator's very modules, and :meth:`update` skips them.
    It is an ordinary submodule, so it is saved with the checkpoint; its parameters never require
    grad, so DDP leaves them out of its reducer.
    """

    def __init__(self, generator: nn.Module, *, shared: Iterable[nn.Module] = ()) -> None:
        super().__init__()
        memo = {id(m): m for m in shared}  # deepcopy maps these to themselves
        self.module = copy.deepcopy(generator, memo).eval().requires_grad_(False)

    def train(self, mode: bool = True) -> "GeneratorEMA":
        return super().train(False)  # the EMA generator always runs in eval mode

    @torch.no_grad()
    def update(self, generator: nn.Module, *, beta: float) -> None:
        """``p_ema <- lerp(p, p_ema, beta)`` for every parameter (one multi-tensor ``lerp_``); buffers copied."""
        pairs = [(p_ema, p.detach()) for p_ema, p in zip(self.module.parameters(), generator.parameters()) if p_ema is not p]
        if pairs:  # shared frozen modules are the same tensors: skipped
            torch._foreach_lerp_([e for e, _ in pairs], [p.to(e.dtype) for e, p in pairs], 1.0 - beta)
        for b_ema, b in zip(self.module.buffers(), generator.buffers()):
            if b_ema is not b:
                b_ema.copy_(b)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
