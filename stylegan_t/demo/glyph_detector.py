"""A detector for the glyphs world (:mod:`stylegan_t.demo.glyphs`): colour, shape and count of what is drawn.

Independent of the training code; built for noisy generator outputs:

1. Foreground from chroma (max - min channel) relative to the image's own levels (background = median,
   glyph = 99th percentile); pixels over half way count. An image without clear contrast is ``none``.
2. Glyphs = 8-connected components of the foreground at least ``MIN_PART`` of the largest one (specks and
   fragments below that are ignored); count = how many ("one", "two", else ``many``).
3. Colour = chroma-weighted vote of each foreground pixel's nearest palette hue.
4. Shape = the template (ring, cross, bar; :func:`stylegan_t.demo.glyphs.coverage`) with the best soft IoU
   against each component, placed at its centroid with its area, over rotations and a few scales; the
   scores of the components are summed.
"""
from __future__ import annotations

import colorsys
import math

import numpy as np
import torch
from PIL import Image

from .detector import to_rgb_array
from .glyphs import COLORS, SHAPES, UNIT_AREA, Glyph, coverage

NONE, MANY = "none", "many"
MIN_CONTRAST = 0.2  # least chroma of the glyphs above the background (0..1)
MIN_PART = 0.3  # a component smaller than this share of the largest is a fragment
MIN_PIXELS = 4
_ANGLES = {"ring": (0.0,), "cross": tuple(i * math.pi / 24 for i in range(12)), "bar": tuple(i * math.pi / 24 for i in range(24))}
_SCALES = (0.9, 1.0, 1.1)
_PALETTE_HUES = {name: colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[0] for name, rgb in COLORS.items()}


def components(mask: np.ndarray) -> list[np.ndarray]:
    """Boolean masks of the 8-connected components of ``mask``, largest first."""
    h, w = mask.shape
    label = np.zeros((h, w), dtype=np.int32)
    parts = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if label[y0, x0]:
            continue
        current = len(parts) + 1
        label[y0, x0] = current
        stack = [(y0, x0)]
        while stack:
            y, x = stack.pop()
            for yy in range(max(y - 1, 0), min(y + 2, h)):
                for xx in range(max(x - 1, 0), min(x + 2, w)):
                    if mask[yy, xx] and not label[yy, xx]:
                        label[yy, xx] = current
                        stack.append((yy, xx))
        parts.append(label == current)
    return sorted(parts, key=lambda p: -int(p.sum()))


def _hue(rgb: np.ndarray) -> np.ndarray:
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    chroma = np.maximum(mx - mn, 1e-6)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.where(mx == r, (g - b) / chroma % 6, np.where(mx == g, (b - r) / chroma + 2, (r - g) / chroma + 4)) / 6


def classify_color(rgb: np.ndarray, weight: np.ndarray) -> str:
    names = list(_PALETTE_HUES)
    dist = np.abs(_hue(rgb)[..., None] - np.array([_PALETTE_HUES[n] for n in names], dtype=np.float32))
    nearest = np.minimum(dist, 1 - dist).argmin(axis=-1)
    return names[int(np.argmax([(weight * (nearest == i)).sum() for i in range(len(names))]))]


def shape_scores(soft: np.ndarray) -> dict[str, float]:
    """Best soft IoU of each shape's template against one component's soft mask."""
    res = soft.shape[0]
    total = float(soft.sum())
    t = (np.arange(res, dtype=np.float32) + 0.5) / res
    center = (float((soft.sum(axis=0) * t).sum() / total), float((soft.sum(axis=1) * t).sum() / total))
    scores = {}
    for shape in SHAPES:
        size = math.sqrt(total / (res * res) / UNIT_AREA[shape])
        best = 0.0
        for angle in _ANGLES[shape]:
            for scale in _SCALES:
                template = coverage(Glyph(shape, center, size * scale, angle), res, supersample=2)
                best = max(best, float(np.minimum(soft, template).sum() / max(np.maximum(soft, template).sum(), 1e-6)))
        scores[shape] = best
    return scores


def detect_glyphs(image: torch.Tensor | Image.Image | np.ndarray) -> dict[str, str]:
    """``{"color", "shape", "count"}`` of one image ([3,H,W] in [-1,1], PIL or uint8 array); ``none`` if nothing is drawn."""
    rgb = to_rgb_array(image)
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    background, peak = float(np.median(chroma)), float(np.percentile(chroma, 99))
    if peak - background < MIN_CONTRAST:
        return {"color": NONE, "shape": NONE, "count": NONE}
    level = np.clip((chroma - background) / (peak - background), 0, 1)
    parts = components(level > 0.5)
    parts = [p for p in parts if p.sum() >= max(MIN_PIXELS, MIN_PART * parts[0].sum())]
    if not parts:
        return {"color": NONE, "shape": NONE, "count": NONE}
    count = ("one", "two")[len(parts) - 1] if len(parts) <= 2 else MANY
    foreground = np.zeros_like(level)
    totals = dict.fromkeys(SHAPES, 0.0)
    for part in parts:
        grown = part.copy()  # the component and its rim: blurred edges count by how far they are covered
        grown[1:] |= part[:-1]
        grown[:-1] |= part[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        soft = np.clip(2 * level - 0.5, 0, 1) * grown
        foreground = np.maximum(foreground, soft)
        for shape, score in shape_scores(soft).items():
            totals[shape] += score
    color = classify_color(rgb, foreground * chroma)
    return {"color": color, "shape": max(totals, key=totals.__getitem__), "count": count}
