"""Image helpers shared across the package: [-1, 1] floats to uint8 and PIL and back, image grids, random crops."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 passes through; floats in ``[-1, 1]`` become ``floor(x * 127.5 + 128)`` clamped to [0, 255].

    The quantization of saved StyleGAN images: a float image made from uint8 ``u`` as ``u / 127.5 - 1``
    maps back to ``u`` exactly. Any shape.
    """
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floats in [-1, 1], got dtype {images.dtype}")
    return (images.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def to_pil(images: torch.Tensor) -> list:
    """[N, C, H, W] images in [-1, 1] (or uint8) -> list of PIL images (RGB, or L for one channel)."""
    from PIL import Image

    arrays = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in arrays]


def from_pil(images: Sequence[Any], resolution: int) -> torch.Tensor:
    """PIL images (any mode and size) -> ``[N, 3, R, R]`` floats in [-1, 1], RGB, resized with a box filter:
    the input a discriminator or a metric takes, the inverse of :func:`to_pil` for RGB images."""
    import numpy as np
    from PIL import Image

    arrays = [np.asarray(img.convert("RGB").resize((resolution, resolution), Image.BOX)) for img in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1


def image_grid(images: Sequence[Any] | torch.Tensor, *, cols: int) -> Any:
    """Tile images row by row into one PIL image with ``cols`` columns: PIL images of one size, or an
    ``[N, C, H, W]`` tensor in [-1, 1] (quantized with :func:`to_uint8`)."""
    from PIL import Image

    if isinstance(images, torch.Tensor):
        images = to_pil(images)
    if not len(images):
        raise ValueError("image_grid needs at least one image")
    w, h = images[0].size
    rows = (len(images) + cols - 1) // cols
    grid = Image.new(images[0].mode, (cols * w, rows * h))
    for i, img in enumerate(images):
        grid.paste(img, ((i % cols) * w, (i // cols) * h))
    return grid


def crop_window(x: torch.Tensor, size: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random ``size x size`` window for the whole batch of ``[..., H, W]`` images, if they are larger.

    Draws from ``generator`` (torch's global RNG without one), on the CPU.
    """
    h, w = x.shape[-2:]
    if h <= size and w <= size:
        return x
    top = int(torch.randint(0, max(h - size, 0) + 1, (), generator=generator).item())
    left = int(torch.randint(0, max(w - size, 0) + 1, (), generator=generator).item())
    return x[..., top : top + size, left : left + size]
