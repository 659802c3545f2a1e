"""Mapping network (paper Sec. 3.1): ``w = concat(MLP(z / rms(z)), text_scale * t)`` broadcast to all layers
(``text_scale`` 1 as in the paper unless a recipe sets it)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..nn.linear import MLP
from .text_encoder import TextEncoder

Conditioning = Sequence[str] | torch.Tensor


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x^2) + eps)`` over the feature axis."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z-MLP with a tracked average for truncation, concatenated with text features.

    ``text_encoder=None`` builds a mapping that takes ``c`` only as a feature tensor of ``text_dim``.
    """

    def __init__(
        self,
        *,
        z_dim: int = 64,
        num_ws: int,
        num_layers: int = 2,
        lr_multiplier: float = 0.01,
        x_avg_beta: float = 0.995,
        text_scale: float = 1.0,
        text_encoder: TextEncoder | None = None,
        text_dim: int | None = None,
    ) -> None:
        super().__init__()
        if text_encoder is None and text_dim is None:
            raise ValueError("MappingNetwork needs a text_encoder or a text_dim")
        self.z_dim = z_dim
        self.num_ws = num_ws
        self.x_avg_beta = x_avg_beta
        if not text_scale > 0:
            raise ValueError(f"text_scale must be positive, got {text_scale}")
        self.text_scale = float(text_scale)
        self.text_encoder = text_encoder
        self.c_dim = text_encoder.dim if text_encoder is not None else int(text_dim)
        self.w_dim = z_dim + self.c_dim
        self.mlp = MLP([z_dim] * (num_layers + 1), activation="lrelu", lr_multiplier=lr_multiplier, linear_out=True)
        self.register_buffer("x_avg", torch.zeros(z_dim))

    def encode_text(self, c: Conditioning) -> torch.Tensor:
        """Prompts -> normalized text features; a tensor is taken as features unchanged."""
        if isinstance(c, torch.Tensor):
            if c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"text features must be [B, {self.c_dim}], got {list(c.shape)}")
            return c
        if isinstance(c, str):
            raise TypeError("c must be a list of prompts or a feature tensor, not a single string")
        if self.text_encoder is None:
            raise ValueError("this generator has no text encoder: pass text features as a tensor")
        return self.text_encoder(c)

    def forward(
        self,
        z: torch.Tensor,
        c: Conditioning,
        *,
        truncation_psi: float = 1.0,
        update_emas: bool | None = None,
    ) -> torch.Tensor:
        """-> ``ws`` [B, num_ws, w_dim]; ``update_emas=None`` updates ``x_avg`` in training mode only."""
        x = self.mlp(normalize_2nd_moment(z.float()))
        if update_emas if update_emas is not None else self.training:
            self.x_avg.copy_(x.detach().float().mean(dim=0).lerp(self.x_avg, self.x_avg_beta))
        if truncation_psi != 1:
            x = self.x_avg.to(x.dtype).lerp(x, truncation_psi)
        t = self.encode_text(c).to(device=x.device, dtype=x.dtype)
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"got {x.shape[0]} latents but {t.shape[0]} prompts/features")
        w = torch.cat([x, t * self.text_scale], dim=1)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)
