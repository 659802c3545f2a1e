"""Discriminator heads (paper Sec. 3.2: one head per tap, conditioning by projection)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...nn.linear import EqualizedLinear
from ...nn.local_batchnorm import LocalBatchNorm1d
from ...nn.spectral import spectral_conv1d


class ConvBlock(nn.Module):
    """Spectral-norm ``Conv1d`` (circular padding) -> local batch norm -> leaky ReLU 0.2."""

    def __init__(self, channels: int, kernel_size: int, *, group_size: int = 8) -> None:
        super().__init__()
        self.conv = spectral_conv1d(channels, channels, kernel_size)
        self.norm = LocalBatchNorm1d(channels, group_size=group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x)), 0.2)


class ResidualBlock(nn.Module):
    """``(f(x) + x) / sqrt(2)``."""

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.fn(x) + x) / math.sqrt(2)


class DiscHead(nn.Module):
    """Tokens ``[B, C, N]`` -> one logit per token ``[B, N]``.

    Conditional (``c_dim > 0``): ``sum_k cls(h)_k * EqLinear(c)_k / sqrt(cmap_dim)``; unconditional: ``cls(h)``
    with one output channel.
    """

    def __init__(self, channels: int, c_dim: int, *, cmap_dim: int = 64, kernel_size: int = 9, group_size: int = 8) -> None:
        super().__init__()
        self.channels = channels
        self.c_dim = c_dim
        self.cmap_dim = cmap_dim
        self.main = nn.Sequential(
            ConvBlock(channels, 1, group_size=group_size),
            ResidualBlock(ConvBlock(channels, kernel_size, group_size=group_size)),
        )
        if c_dim > 0:
            self.cmapper = EqualizedLinear(c_dim, cmap_dim)
            self.cls = spectral_conv1d(channels, cmap_dim, 1)
        else:
            self.cls = spectral_conv1d(channels, 1, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | Sequence[torch.Tensor] | None = None):
        """Logits ``[B, N]``; given a list of conditionings, a list of logits: the convolutions do not see ``c``
        and run once, only the projection repeats (through ``__call__``, so compilation and FSDP apply)."""
        out = self.cls(self.main(x))
        if isinstance(c, (list, tuple)):
            return [self.project(out, one) for one in c]
        return self.project(out, c)

    def project(self, out: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The convolutions' output ``[B, cmap_dim, N]`` projected on the mapped conditioning: one logit per token ``[B, N]``."""
        if self.c_dim == 0:
            return out.squeeze(1)
        if c is None:
            raise ValueError(f"this head is conditional (c_dim={self.c_dim}): pass the text features c")
        if c.shape[-1] != self.c_dim:
            raise ValueError(f"expected c of shape [B, {self.c_dim}], got {list(c.shape)}")
        cmap = self.cmapper(c)
        # Projection in float32 (a 64-term sum per token; bf16 under autocast would round it coarsely).
        return (out.float() * cmap.float().unsqueeze(-1)).sum(dim=1) * (1 / math.sqrt(self.cmap_dim))
