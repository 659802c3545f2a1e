"""Exponential moving average of the generator, with a half-life in images (SPEC: "EMA generator")."""
from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn


def ema_beta(*, batch_size: int, nimg: int, ema_kimg: float, rampup: float | None = 0.05) -> float:
    """``0.5 ** (batch / max(min(ema_kimg * 1000, nimg * rampup), 1e-8))``: decay per step of ``batch`` images."""
    ema_nimg = ema_kimg * 1000
    if rampup is not None:
        ema_nimg = min(ema_nimg, nimg * rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


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
        """``p_ema <- lerp(p, p_ema, beta)`` for every parameter; buffers copied."""
        for p_ema, p in zip(self.module.parameters(), generator.parameters()):
            if p_ema is not p:  # shared frozen modules are the same tensors
                p_ema.copy_(p.detach().to(p_ema.dtype).lerp(p_ema, beta))
        for b_ema, b in zip(self.module.buffers(), generator.buffers()):
            if b_ema is not b:
                b_ema.copy_(b)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
