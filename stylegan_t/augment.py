"""DiffAugment (Zhao et al., 2020) and the random crop before the discriminator (arXiv 2301.09515, Sec. 3.2).

Policies: ``color`` (brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)),
``translation`` (up to 1/8 of the size, zero padding), ``cutout`` (one square of 1/5 of the size).
Every op is differentiable in the images and draws its random numbers per sample from the ``generator``
it is given (on the images' device), or from torch's global RNG without one.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .images import crop_window
from .utils.text import comma_items

MaybeGenerator = torch.Generator | None


def _uniform(x: torch.Tensor, generator: MaybeGenerator = None) -> torch.Tensor:
    """One U(0, 1) value per sample, shaped ``[B, 1, 1, 1]`` in ``x``'s dtype."""
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=generator).to(x.dtype)


def rand_brightness(x: torch.Tensor, generator: MaybeGenerator = None) -> torch.Tensor:
    """``x + U(-0.5, 0.5)``."""
    return x + (_uniform(x, generator) - 0.5)


def rand_saturation(x: torch.Tensor, generator: MaybeGenerator = None) -> torch.Tensor:
    """Distance to the per-pixel channel mean scaled by ``U(0, 2)``."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x, generator) * 2) + mean


def rand_contrast(x: torch.Tensor, generator: MaybeGenerator = None) -> torch.Tensor:
    """Distance to the per-image mean scaled by ``U(0.5, 1.5)``."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def _shift_range(size: int, ratio: float) -> int:
    return int(size * ratio + 0.5)


def rand_translation(x: torch.Tensor, generator: MaybeGenerator = None, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by integers in ``[-round(ratio*H), round(ratio*H)]`` (same for W); vacated pixels are 0."""
    b, c, h, w = x.shape
    sy, sx = _shift_range(h, ratio), _shift_range(w, ratio)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device, generator=generator)
    dx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device, generator=generator)
    src_y = torch.arange(h, device=x.device).view(1, h, 1) + dy  # output pixel (i, j) reads input (i + dy, j + dx)
    src_x = torch.arange(w, device=x.device).view(1, 1, w) + dx
    inside = (src_y >= 0) & (src_y < h) & (src_x >= 0) & (src_x < w)
    flat = (src_y.clamp(0, h - 1) * w + src_x.clamp(0, w - 1)).view(b, 1, h * w).expand(b, c, h * w)
    moved = torch.gather(x.reshape(b, c, h * w), 2, flat).view(b, c, h, w)
    return moved * inside.unsqueeze(1).to(x.dtype)


def rand_cutout(x: torch.Tensor, generator: MaybeGenerator = None, ratio: float = 0.2) -> torch.Tensor:
    """Zero one ``round(ratio*H) x round(ratio*W)`` square per image, centred anywhere (clipped at the border)."""
    b, _, h, w = x.shape
    ch, cw = _shift_range(h, ratio), _shift_range(w, ratio)
    # Centres as in DiffAugment: offsets in [0, size + (1 - side % 2)), square starts at offset - side // 2.
    top = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device, generator=generator) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device, generator=generator) - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


#: policy name -> ops applied in order
POLICIES: dict[str, tuple[Callable[[torch.Tensor, MaybeGenerator], torch.Tensor], ...]] = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def parse_policy(policy: str) -> list[str]:
    """``"color, translation"`` -> ``["color", "translation"]``; unknown names raise ``ValueError``."""
    names = comma_items(policy)
    unknown = [name for name in names if name not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; known: {sorted(POLICIES)}")
    return names


class DiffAugment(nn.Module):
    """Differentiable augmentation of ``[B, C, H, W]`` images by a comma-separated policy (the original release's
    policy is ``color,translation,cutout``).

    Applied whenever called (the discriminator calls it in training mode only); ``""`` is the identity.
    """

    def __init__(self, policy: str = "color,translation,cutout") -> None:
        super().__init__()
        self.policy = parse_policy(policy)

    def forward(self, x: torch.Tensor, generator: MaybeGenerator = None) -> torch.Tensor:
        """Apply the policy's ops in order, drawing from ``generator`` (torch's global RNG without one)."""
        for name in self.policy:
            for op in POLICIES[name]:
                x = op(x, generator)
        return x

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policy)!r}"


def random_crop(x: torch.Tensor, size: int, *, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability ``p``, one random ``size x size`` window for the whole batch, if the images are larger.

    Images larger than the feature network's 224 input get a random 224 crop with probability 0.5 before it
    (arXiv 2301.09515, Sec. 3.2; the probability is the original release's).
    """
    h, w = x.shape[-2:]
    if (h <= size and w <= size) or p <= 0:
        return x
    if p < 1 and torch.rand((), generator=generator).item() >= p:
        return x
    return crop_window(x, size, generator=generator)
