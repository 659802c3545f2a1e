"""A deterministic detector for the demo's attributes: which colour, shape and position is drawn.

Made for noisy 32x32 generator outputs, not just clean renders:

1. Foreground from saturation (max - min channel, lightly smoothed against pixel noise), relative to the
   image's own levels: background = the median, shape = the 99th percentile. A pixel's coverage is where
   its saturation lies between the two (exact for antialiased edges, which blend linearly), so washed-out
   or darkened outputs are read as well as crisp ones. Only the largest 8-connected blob of pixels over
   half coverage counts, so colour speckles elsewhere do not matter.
2. Colour = saturation-weighted vote of each blob pixel's nearest palette hue (brightness-invariant).
3. Shape = the template (circle, square, triangle from :func:`stylegan_t.demo.scenes.coverage`) that best
   overlaps the blob's soft mask (soft IoU) when placed at the blob's centroid with the blob's area, trying
   a few scales: uses every pixel, so a blurred corner or a noisy edge moves the score only a little.
4. Position = the blob's centroid: ``center`` within a box around the middle, else the dominant direction.

An image without a clearly saturated region (nothing drawn, noise, colour clouds), or whose largest blob
covers less than ``MIN_AREA`` or more than ``MAX_AREA`` of it, is ``"none"`` for every attribute.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..metrics.prompt_alignment import NONE  # noqa: E402 - what the detector reports for nothing found
from .scenes import ATTRIBUTES, COLORS, SHAPES, SIZE_RANGE, coverage, position_offset

#: the shape must be at least this much more saturated than the background (0..1 units) to count, and by
#: this many robust standard deviations of the background's saturation (rules out noise and colour clouds)
MIN_CONTRAST, MIN_CONTRAST_TO_SPREAD = 0.15, 3.0
MIN_AREA = 0.02  # smallest blob (fraction of the image) that counts as a shape
MAX_AREA = 0.5  # a saturated region this large is a coloured background or noise, not one shape
#: centroid farther than this from the middle (fraction of the image, either axis) is off-centre; half of
#: the smallest off-centre offset the scenes use
CENTER_BOX = 0.5 * position_offset(SIZE_RANGE[1])
_SCALES = (0.88, 1.0, 1.12)
_PALETTE_HUES = {name: colorsys.rgb_to_hsv(*(c / 255 for c in rgb))[0] for name, rgb in COLORS.items()}


@dataclass
class Detection:
    """What the detector saw: ``attributes`` plus the measurements behind them."""

    attributes: dict[str, str]
    area: float = 0.0  # blob area, fraction of the image
    centroid: tuple[float, float] = (0.5, 0.5)  # in [0, 1]^2, y down
    shape_scores: dict[str, float] = field(default_factory=dict)  # soft IoU of each template
    color_votes: dict[str, float] = field(default_factory=dict)  # share of the saturation-weighted vote


def to_rgb_array(image: torch.Tensor | Image.Image | np.ndarray) -> np.ndarray:
    """[3,H,W] tensor in [-1,1], PIL image or uint8 [H,W,3] array -> float32 [H,W,3] in [0,1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if isinstance(image, np.ndarray):
        return image.astype(np.float32) / 255.0
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image tensor [3, H, W], got {tuple(image.shape)}")
    return ((image.detach().float().cpu().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()


def largest_blob(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (flood fill; images here are tiny)."""
    h, w = mask.shape
    label = np.zeros((h, w), dtype=np.int32)
    best, best_size, current = 0, 0, 0
    for y0, x0 in zip(*np.nonzero(mask)):
        if label[y0, x0]:
            continue
        current += 1
        label[y0, x0] = current
        stack, size = [(y0, x0)], 0
        while stack:
            y, x = stack.pop()
            size += 1
            for yy in range(max(y - 1, 0), min(y + 2, h)):
                for xx in range(max(x - 1, 0), min(x + 2, w)):
                    if mask[yy, xx] and not label[yy, xx]:
                        label[yy, xx] = current
                        stack.append((yy, xx))
        if size > best_size:
            best, best_size = current, size
    return label == best if best else np.zeros_like(mask)


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= out[:, :-1].copy()
    out[:, :-1] |= out[:, 1:].copy()
    return out


def _smooth(a: np.ndarray) -> np.ndarray:
    """[1, 2, 1] / 4 blur along both axes (edge pixels repeated): tames per-pixel noise, keeps the shape."""
    p = np.pad(a, 1, mode="edge")
    a = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
    return 0.25 * a[:, :-2] + 0.5 * a[:, 1:-1] + 0.25 * a[:, 2:]


def classify_color(rgb: np.ndarray, weight: np.ndarray) -> tuple[str, dict[str, float]]:
    """Saturation-weighted vote of each pixel's nearest palette hue (circular distance)."""
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    chroma = np.maximum(mx - mn, 1e-6)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.where(mx == r, (g - b) / chroma % 6, np.where(mx == g, (b - r) / chroma + 2, (r - g) / chroma + 4)) / 6
    names = list(_PALETTE_HUES)
    ref = np.array([_PALETTE_HUES[n] for n in names], dtype=np.float32)
    dist = np.abs(hue[..., None] - ref)
    nearest = np.minimum(dist, 1 - dist).argmin(axis=-1)
    votes = np.array([(weight * (nearest == i)).sum() for i in range(len(names))])
    shares = votes / max(votes.sum(), 1e-12)
    return names[int(votes.argmax())], {n: float(s) for n, s in zip(names, shares)}


def classify_shape(soft: np.ndarray, centroid: tuple[float, float]) -> tuple[str, dict[str, float]]:
    """Best soft-IoU template, each placed at the centroid with the blob's area (times a few scales)."""
    res = soft.shape[0]
    area = float(soft.sum()) / (res * res)
    unit_area = {"circle": math.pi / 4, "square": 1.0, "triangle": 0.5}  # area of a shape of size 1
    scores = {}
    for shape in SHAPES:
        size = math.sqrt(area / unit_area[shape])
        best = 0.0
        for scale in _SCALES:
            template = coverage(shape, centroid, size * scale, res, supersample=2)
            best = max(best, float(np.minimum(soft, template).sum() / max(np.maximum(soft, template).sum(), 1e-6)))
        scores[shape] = best
    return max(scores, key=scores.__getitem__), scores


def classify_position(centroid: tuple[float, float]) -> str:
    dx, dy = centroid[0] - 0.5, centroid[1] - 0.5
    if max(abs(dx), abs(dy)) < CENTER_BOX:
        return "center"
    if abs(dx) >= abs(dy):
        return "left" if dx < 0 else "right"
    return "top" if dy < 0 else "bottom"


def analyze(image: torch.Tensor | Image.Image | np.ndarray) -> Detection:
    """Detect colour, shape and position, keeping the measurements (see the module docstring)."""
    rgb = to_rgb_array(image)
    h, w, _ = rgb.shape
    saturation = rgb.max(axis=-1) - rgb.min(axis=-1)
    if min(h, w) >= 32:  # below that a shape is only a few pixels across: keep every one sharp
        saturation = _smooth(saturation)
    background, peak = float(np.median(saturation)), float(np.percentile(saturation, 99))
    spread = 1.4826 * float(np.median(np.abs(saturation - background)))  # robust std (the shape is < half the image)
    if peak - background < max(MIN_CONTRAST, MIN_CONTRAST_TO_SPREAD * spread):
        return Detection({name: NONE for name in ATTRIBUTES})
    level = np.clip((saturation - background) / (peak - background), 0, 1)  # coverage estimate
    blob = largest_blob(level > 0.5)
    if not MIN_AREA * h * w <= blob.sum() <= MAX_AREA * h * w:
        return Detection({name: NONE for name in ATTRIBUTES})
    # soft foreground: the blob plus its rim, the ramp steepened around half coverage so that a blurred edge
    # is read where it was before the blur (a symmetric blur keeps a straight edge's 0.5 level in place)
    soft = np.clip(2 * level - 0.5, 0, 1) * _dilate(blob)
    total = float(soft.sum())
    ys, xs = (np.arange(h, dtype=np.float32) + 0.5) / h, (np.arange(w, dtype=np.float32) + 0.5) / w
    centroid = (float((soft.sum(axis=0) * xs).sum() / total), float((soft.sum(axis=1) * ys).sum() / total))
    color, votes = classify_color(rgb, soft * saturation)
    if h == w:
        shape, scores = classify_shape(soft, centroid)
    else:  # templates assume a square image
        shape, scores = NONE, {}
    attributes = {"color": color, "shape": shape, "position": classify_position(centroid)}
    return Detection(attributes, total / (h * w), centroid, scores, votes)


def detect(image: torch.Tensor | Image.Image | np.ndarray) -> dict[str, str]:
    """``{"color", "shape", "position"}`` of one image ([3,H,W] in [-1,1] or PIL); ``"none"`` if nothing is drawn."""
    return analyze(image).attributes


def detect_batch(images: torch.Tensor) -> list[dict[str, str]]:
    """:func:`detect` for every image of a [N,3,H,W] batch in [-1,1]."""
    return [detect(image) for image in images]
