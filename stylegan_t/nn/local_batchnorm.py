"""Local batch norm (SPEC: discriminator heads): statistics over groups of samples and all tokens."""
from __future__ import annotations

import math

import torch
from torch import nn


class LocalBatchNorm1d(nn.Module):
    """Normalize ``[B, C, N]`` with per-channel statistics of each group of samples, no running stats.

    Like the original, the batch is cut into ``G = ceil(B / group_size)`` contiguous groups of ``B / G``
    samples (so 16 -> 2 groups of 8, 4 -> 1 group of 4); when ``G`` does not divide ``B`` the groups are
    chunks of ``group_size`` with a smaller last one. Statistics run in float32 (bf16-safe).
    """

    def __init__(self, num_features: int, *, group_size: int = 8, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.group_size = group_size
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=[0, 2], keepdim=True)
        var = x.var(dim=[0, 2], keepdim=True, unbiased=False)
        return (x - mean) * torch.rsqrt(var + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        batch = x.shape[0]
        groups = math.ceil(batch / self.group_size)
        size = batch // groups if batch % groups == 0 else self.group_size
        x = torch.cat([self._normalize(chunk) for chunk in x.split(size, dim=0)], dim=0)
        if self.weight is not None:
            x = x * self.weight.float()[None, :, None] + self.bias.float()[None, :, None]
        return x.to(dtype)
