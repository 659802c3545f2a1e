"""Discriminator heads (SPEC: "One head per tap", "Conditioning by projection")."""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ...nn.linear import EqualizedLinear
from ...nn.local_batchnorm import LocalBatchNorm1d


def sn_conv1d(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv1d:
    """Spectrally normalized Conv1d, circular padding; one power iteration per training forward only."""
    conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, padding_mode="circular")
    return spectral_norm(conv, n_power_iterations=1, eps=1e-12)


class ConvBlock(nn.Module):
    """SN-Conv1d -> local batch norm -> leaky ReLU 0.2."""

    def __init__(self, channels: int, kernel_size: int, *, group_size: int = 8) -> None:
        super().__init__()
        self.conv = sn_conv1d(channels, channels, kernel_size)
        self.norm = LocalBatchNorm1d(channels, group_size=group_size)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class ResidualBlock(nn.Module):
    """``(f(x) + x) / sqrt(2)``."""

    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.fn(x) + x) / math.sqrt(2)


class DiscHead(nn.Module):
    """Tokens ``[B, C, N]`` -> one logit per token ``[B, N]``, projected onto ``cmap = EqLinear(c)`` if ``c_dim > 0``."""

    def __init__(self, channels: int, c_dim: int, *, cmap_dim: int = 64, kernel_size: int = 9, group_size: int = 8) -> None:
        super().__init__()
        self.c_dim = c_dim
        self.cmap_dim = cmap_dim
        self.main = nn.Sequential(
            ConvBlock(channels, 1, group_size=group_size),
            ResidualBlock(ConvBlock(channels, kernel_size, group_size=group_size)),
        )
        if c_dim > 0:
            self.cmapper = EqualizedLinear(c_dim, cmap_dim)
            self.cls = sn_conv1d(channels, cmap_dim, 1)
        else:
            self.cls = sn_conv1d(channels, 1, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        out = self.cls(self.main(x))
        if self.c_dim > 0:
            if c is None:
                raise ValueError("this head is conditional: pass the text features c")
            cmap = self.cmapper(c.to(out.dtype)).unsqueeze(-1)  # [B, cmap_dim, 1]
            out = (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)
        else:
            out = out.squeeze(1)
        return out
