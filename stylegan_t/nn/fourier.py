"""Fourier-feature input layer (paper Sec. 3.1: Fourier features at the first block, StyleGAN3-style input), replacing the constant."""
from __future__ import annotations

import math

import torch
from torch import nn

from .linear import EqualizedLinear


class FourierFeatures(nn.Module):
    """``channels`` sinusoids on a ``size`` x ``size`` grid, rotated/translated per sample by ``w``.

    Frequencies are drawn from a 2D disc of radius ``bandwidth``, phases from U[-0.5, 0.5); an affine
    ``w -> (r_c, r_s, t_x, t_y)`` (init weight 0, bias [1,0,0,0]) transforms them, out-of-band
    frequencies are damped, and a learned ``channels x channels`` matrix mixes the result.
    """

    def __init__(self, w_dim: int, channels: int, *, size: int = 8, sampling_rate: float = 8, bandwidth: float = 2) -> None:
        super().__init__()
        self.channels = channels
        self.size = size
        self.sampling_rate = sampling_rate
        self.bandwidth = bandwidth
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = EqualizedLinear(w_dim, 4, weight_init=0.0, bias_init=[1.0, 0.0, 0.0, 0.0])
        self.register_buffer("transform", torch.eye(3))  # user-specified inverse transform of the image
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def sampling_grid(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel-centre coordinates ``(x, y)`` in image units, centred on 0."""
        coords = (torch.arange(self.size, device=device, dtype=torch.float32) + 0.5) / self.sampling_rate
        coords = coords - self.size / (2 * self.sampling_rate)
        return coords.reshape(1, 1, -1), coords.reshape(1, -1, 1)  # x varies along width, y along height

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=w.device.type, enabled=False):
            t = self.affine(w.float())
            t = t / t[:, :2].norm(dim=1, keepdim=True)
            batch = w.shape[0]
            rot = torch.eye(3, device=w.device).repeat(batch, 1, 1)
            rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
            shift = torch.eye(3, device=w.device).repeat(batch, 1, 1)
            shift[:, 0, 2], shift[:, 1, 2] = -t[:, 2], -t[:, 3]
            m = rot @ shift @ self.transform.float()
            freqs = self.freqs.float().unsqueeze(0)  # [B?, C, 2]
            phases = self.phases.float().unsqueeze(0) + (freqs @ m[:, :2, 2:]).squeeze(2)  # [B, C]
            freqs = freqs @ m[:, :2, :2]  # [B, C, 2]
            amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
            gx, gy = self.sampling_grid(w.device)
            # [B, H, W, C]: x * f_x + y * f_y + phase
            arg = gx.unsqueeze(-1) * freqs[:, None, None, :, 0] + gy.unsqueeze(-1) * freqs[:, None, None, :, 1]
            x = torch.sin((arg + phases[:, None, None, :]) * (2 * math.pi)) * amplitudes[:, None, None, :]
            x = x @ (self.weight.float() / math.sqrt(self.channels)).t()
        # NCHW-contiguous: a permuted view would carry channels-last strides through every conv of G, which then
        # converts each weight (and its gradient) to that layout on every call (lite: G inference 1.4x slower).
        return x.permute(0, 3, 1, 2).contiguous()
