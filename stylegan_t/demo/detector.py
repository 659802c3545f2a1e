"""A deterministic detector of the demo's attributes in an image: the colour and shape of the foreground.

Foreground = pixels clearly more saturated than the (grey/white) background. Colour = nearest palette
colour to the foreground's mean. Shape = how much of its bounding box the foreground fills (square ~1,
circle ~pi/4, triangle ~1/2), with the triangle's characteristic narrow top as a tie-breaker.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .scenes import COLORS

NONE = "none"


def to_array(image: torch.Tensor | Image.Image) -> np.ndarray:
    """[3,H,W] tensor in [-1,1] or PIL -> float array [H,W,3] in [0,1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    return ((image.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy().astype(np.float64)


def foreground_mask(rgb: np.ndarray, *, threshold: float = 0.25) -> np.ndarray:
    saturation = rgb.max(axis=2) - rgb.min(axis=2)
    return saturation > threshold


def detect(image: torch.Tensor | Image.Image) -> dict[str, str]:
    """``{"color": ..., "shape": ...}``; ``"none"`` when no foreground is found."""
    rgb = to_array(image)
    mask = foreground_mask(rgb)
    if mask.sum() < max(4, mask.size // 200):
        return {"color": NONE, "shape": NONE}
    mean = rgb[mask].mean(axis=0)
    palette = {name: np.array(c) / 255.0 for name, c in COLORS.items()}
    color = min(palette, key=lambda name: float(np.square(mean - palette[name]).sum()))
    return {"color": color, "shape": classify_shape(mask)}


def classify_shape(mask: np.ndarray) -> str:
    """Square / circle / triangle from the fill of the largest blob's bounding box and its row profile."""
    ys, xs = np.nonzero(mask)
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    box = mask[top : bottom + 1, left : right + 1]
    fill = box.mean()
    rows = box.mean(axis=1)
    third = max(len(rows) // 3, 1)
    taper = rows[:third].mean() / max(rows[-third:].mean(), 1e-6)  # triangle: narrow top, wide bottom
    if fill > 0.88:
        return "square"
    if taper < 0.55 or fill < 0.62:
        return "triangle"
    return "circle"
