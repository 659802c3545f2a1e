"""Local batch norm (paper Sec. 3.2; groups of 8 samples, statistics over tokens, as in the original release)."""
from __future__ import annotations

import math

import torch
from torch import nn


def local_group_sizes(batch: int, group_size: int) -> list[int]:
    """Sizes of the contiguous sample groups of a batch.

    As in the original: ``G = ceil(B / group_size)`` groups of ``B / G`` samples (16 -> 8+8, 12 -> 6+6,
    4 -> 4). Where ``G`` does not divide ``B`` (the original fails) we use chunks of ``group_size``.
    """
    groups = math.ceil(batch / group_size)
    if batch % groups == 0:
        return [batch // groups] * groups
    return [min(group_size, batch - start) for start in range(0, batch, group_size)]


class LocalBatchNorm1d(nn.Module):
    """Normalize ``[B, C, N]`` per channel with the biased mean/variance of each sample group and all tokens.

    No running statistics (train and eval behave the same); affine per channel; statistics in float32
    whatever the input dtype (bf16 autocast), output in the input dtype.
    """

    def __init__(self, num_features: int, *, group_size: int = 8, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        self.num_features = num_features
        self.group_size = group_size
        self.eps = eps
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``x: [G, S, C, N]``: statistics over the samples of a group (dim 1) and the tokens (dim 3)."""
        mean = x.mean(dim=(1, 3), keepdim=True)
        var = x.var(dim=(1, 3), keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            raise ValueError(f"LocalBatchNorm1d expects [B, C, N], got shape {list(x.shape)}")
        dtype = x.dtype
        b, c, n = x.shape
        x = x.float()
        sizes = local_group_sizes(b, self.group_size)
        if len(set(sizes)) == 1:  # equal groups: one vectorized reshape, like the original
            y = self._normalize(x.reshape(len(sizes), sizes[0], c, n)).reshape(b, c, n)
        else:
            y = torch.cat([self._normalize(part.unsqueeze(0)).squeeze(0) for part in x.split(sizes)], dim=0)
        if self.weight is not None:
            y = y * self.weight.float()[None, :, None] + self.bias.float()[None, :, None]
        return y.to(dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, group_size={self.group_size}, eps={self.eps}, affine={self.weight is not None}"
