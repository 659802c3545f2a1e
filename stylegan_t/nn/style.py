"""Style split (paper Sec. 3.1, "stronger conditioning": second-order styles): ``w -> (m1, m2, m3)``, style = ``m1 * m2 + m3``."""
from __future__ import annotations

import torch
from torch import nn

from .linear import EqualizedLinear


class StyleSplit(nn.Module):
    """Affine ``w -> 3*C`` (bias init 1) split in three; multiplicative + additive style per channel."""

    def __init__(self, w_dim: int, channels: int, *, bias_init: float = 1.0) -> None:
        super().__init__()
        self.proj = EqualizedLinear(w_dim, 3 * channels, bias_init=bias_init)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        m1, m2, m3 = self.proj(w).chunk(3, dim=1)
        return m1 * m2 + m3
