"""Blur of every discriminator input and its schedule (paper Sec. 3.2; the schedule is the original release's)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: the blur's starting sigma in pixels, sigma_0 (original release)
BLUR_SIGMA0 = 32.0
#: the thousands of images over which sigma fades to 0 (original release)
BLUR_FADE_KIMG = 1000.0


def blur_sigma(nimg: float, *, sigma0: float = BLUR_SIGMA0, fade_kimg: float = BLUR_FADE_KIMG) -> float:
    """``max(1 - nimg / (fade_kimg * 1000), 0) * sigma0``; 0 (no blur) when ``fade_kimg <= 0``."""
    if fade_kimg <= 0:
        return 0.0
    return max(1.0 - nimg / (fade_kimg * 1000.0), 0.0) * sigma0


def blur_kernel(sigma: float, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """``k_i = 2^(-(i/sigma)^2)`` for ``|i| <= floor(3 sigma)``, normalized to sum 1 (``[1.]`` below sigma 1/3)."""
    radius = math.floor(3 * sigma) if sigma > 0 else 0
    if radius == 0:
        return torch.ones(1, dtype=dtype, device=device)
    i = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp2(-(i / sigma).square())
    return (k / k.sum()).to(dtype=dtype, device=device)


def blur_images(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable blur of ``[B, C, H, W]`` with zero padding (same size); identity when ``floor(3 sigma) == 0``."""
    k = blur_kernel(sigma, dtype=x.dtype, device=x.device)
    if k.numel() == 1:
        return x
    c, pad = x.shape[1], k.numel() // 2
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, pad), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(pad, 0), groups=c)
