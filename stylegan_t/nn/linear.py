"""Equalized learning-rate linear layer and MLP (Karras et al. 2018; lr multipliers as in the original release)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .bias_act import bias_act


class EqualizedLinear(nn.Module):
    """Linear layer with runtime weight scaling ``lr_mul / sqrt(in_features)``.

    Parameters are stored as ``W ~ N(0, 1) * weight_init / lr_mul`` and ``b = bias_init / lr_mul``
    so that Adam sees the same effective step size for every layer (Karras et al., 2018).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        weight_init: float = 1.0,
        bias_init: float | Sequence[float] = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.lr_multiplier = lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (weight_init / lr_multiplier))
        if bias:
            init = torch.broadcast_to(torch.as_tensor(bias_init, dtype=torch.float32), [out_features])
            self.bias = nn.Parameter(init / lr_multiplier)
        else:
            self.register_parameter("bias", None)
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t()) if x.ndim == 2 else torch.nn.functional.linear(x, w, b)
        x = torch.nn.functional.linear(x, w)
        return bias_act(x, b, dim=x.ndim - 1, act=self.activation)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"activation={self.activation}, lr_multiplier={self.lr_multiplier}"
        )


class MLP(nn.Module):
    """Stack of :class:`EqualizedLinear` layers named ``fc0, fc1, ...``; optionally linear last layer."""

    def __init__(
        self,
        features: Sequence[int],
        *,
        activation: str = "lrelu",
        lr_multiplier: float = 1.0,
        linear_out: bool = True,
    ) -> None:
        super().__init__()
        self.num_layers = len(features) - 1
        self.out_features = features[-1]
        for idx in range(self.num_layers):
            last = idx == self.num_layers - 1
            act = "linear" if (linear_out and last) else activation
            layer = EqualizedLinear(features[idx], features[idx + 1], activation=act, lr_multiplier=lr_multiplier)
            self.add_module(f"fc{idx}", layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        return x
