"""D-input blur and its schedule (SPEC: "Blur on all D inputs")."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def blur_sigma(nimg: int, *, sigma0: float = 32.0, fade_kimg: float = 1000.0) -> float:
    """``max(1 - nimg / (fade_kimg * 1000), 0) * sigma0``: fades linearly to 0 over ``fade_kimg``."""
    if fade_kimg <= 0:
        return 0.0
    return max(1.0 - nimg / (fade_kimg * 1000.0), 0.0) * sigma0


def blur_kernel(sigma: float) -> torch.Tensor:
    """``k_i = 2^(-(i/sigma)^2)`` for ``|i| <= floor(3 sigma)``, normalized to sum 1."""
    radius = math.floor(3 * sigma)
    i = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp2(-(i / sigma).square())
    return k / k.sum()


def blur_images(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable blur with zero padding (same size); identity once ``sigma`` reaches 0."""
    if sigma <= 0:
        return x
    k = blur_kernel(sigma).to(device=x.device, dtype=x.dtype)
    if k.numel() == 1:
        return x
    c = x.shape[1]
    pad = k.numel() // 2
    x = F.conv2d(x, k.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, pad), groups=c)
    return F.conv2d(x, k.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(pad, 0), groups=c)
