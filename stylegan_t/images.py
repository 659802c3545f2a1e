"""Image helpers shared across the package: [-1, 1] floats to uint8 and PIL and back, image grids, random crops,
and the input of a pretrained image network (CLIP, DINO)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F


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


#: resize modes :func:`pretrained_input` takes; ``area`` is the original StyleGAN-T's (CLIP guidance, DINO input)
RESIZE_MODES = ("area", "bilinear", "bicubic")


def pretrained_input(
    images: torch.Tensor,
    *,
    size: int | Sequence[int],
    mean: Sequence[float] | torch.Tensor,
    std: Sequence[float] | torch.Tensor,
    resize: str = "area",
    antialias: bool = False,
    clamp: bool = False,
) -> torch.Tensor:
    """``[N, 3, H, W]`` images (floats in [-1, 1], or uint8) as a pretrained network takes them: mapped to [0, 1],
    resized to ``size`` with ``resize`` (skipped at that size), clamped to [0, 1] if asked, then ``(x - mean) / std``.

    Floats keep their dtype (uint8 becomes float32); ``mean`` / ``std`` are read as float32, then cast to it.
    ``antialias`` applies to ``bilinear`` / ``bicubic`` only (as in ``F.interpolate``); differentiable in ``images``.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if antialias and resize == "area":
        raise ValueError("antialias applies to bilinear and bicubic resizing only, not to area")
    x = images.float() / 255 if images.dtype == torch.uint8 else (images + 1) / 2
    size = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) != size:
        align = None if resize == "area" else False  # area resizing takes no align_corners
        x = F.interpolate(x, size=size, mode=resize, align_corners=align, antialias=antialias)
    if clamp:
        x = x.clamp(0, 1)
    mean = torch.as_tensor(mean, dtype=torch.float32, device=x.device).reshape(1, -1, 1, 1).to(x.dtype)
    std = torch.as_tensor(std, dtype=torch.float32, device=x.device).reshape(1, -1, 1, 1).to(x.dtype)
    return (x - mean) / std
