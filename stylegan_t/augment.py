"""DiffAugment (Zhao et al., 2020) and the random crop used before the discriminator (SPEC: "DiffAugment").

Policies: ``color`` (brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)),
``translation`` (up to 1/8 of the size, zero padding), ``cutout`` (one square of 1/5 of the size).
Every op is differentiable with respect to the images and draws one random value per sample.
"""
from __future__ import annotations

import random

import torch
from torch import nn


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def rand_saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size in x and y; uncovered pixels become 0."""
    b, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-max_dx, max_dx + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).reshape(1, h, 1) - dy  # source row of each output row
    cols = torch.arange(w, device=x.device).reshape(1, 1, w) - dx
    valid = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).reshape(b, 1, h * w).expand(-1, x.shape[1], -1)
    shifted = x.reshape(b, x.shape[1], h * w).gather(2, index).reshape_as(x)
    return shifted * valid.to(x.dtype)


def rand_cutout(x: torch.Tensor, ratio: float = 0.2) -> torch.Tensor:
    """Zero one square of ``ratio`` times the size per image, centred anywhere (clipped at the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).reshape(1, h, 1)
    cols = torch.arange(w, device=x.device).reshape(1, 1, w)
    inside = (rows >= cy - ch // 2) & (rows < cy - ch // 2 + ch) & (cols >= cx - cw // 2) & (cols < cx - cw // 2 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


class DiffAugment(nn.Module):
    """Apply the ops of a comma-separated policy (e.g. ``"color,translation,cutout"``) in order."""

    def __init__(self, policy: str = "color,translation,cutout") -> None:
        super().__init__()
        names = [p.strip() for p in policy.split(",") if p.strip()]
        unknown = [n for n in names if n not in POLICIES]
        if unknown:
            raise ValueError(f"unknown DiffAugment policy {unknown}; known: {sorted(POLICIES)}")
        self.policy = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.policy:
            for op in POLICIES[name]:
                x = op(x)
        return x.contiguous()

    def extra_repr(self) -> str:
        return ",".join(self.policy)


def random_crop(x: torch.Tensor, size: int, *, p: float = 0.5) -> torch.Tensor:
    """With probability ``p``, one random ``size`` x ``size`` window of the batch (only if larger than ``size``)."""
    h, w = x.shape[-2:]
    if min(h, w) <= size or random.random() >= p:
        return x
    top, left = random.randint(0, h - size), random.randint(0, w - size)
    return x[..., top : top + size, left : left + size]
