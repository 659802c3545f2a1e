"""What the demo's procedural worlds (scenes, glyphs, rotated shapes) draw with: each sample's own random stream,
attribute checks, antialiased coverage by supersampling, and alpha compositing into an RGB image."""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from PIL import Image


def sample_rng(index: int, seed: int) -> random.Random:
    """The random stream of sample ``index`` of the data set ``seed`` (independent of every other sample)."""
    return random.Random((seed & 0xFFFFFFFF) << 40 | index)


def check_attributes(attributes: Mapping[str, Sequence[str]], **given: str | None) -> None:
    """Raise ``ValueError`` for a given value (None: not given) that is not one of ``attributes[name]``."""
    for name, value in given.items():
        if value is not None and value not in attributes[name]:
            raise ValueError(f"unknown {name} {value!r}; expected one of {attributes[name]}")


def supersampled(
    inside: Callable[[np.ndarray, np.ndarray], np.ndarray], center: tuple[float, float], resolution: int, supersample: int
) -> np.ndarray:
    """Fraction of each pixel where ``inside(x, y)`` holds, float32 [resolution, resolution] (area antialiasing).

    ``x`` ([1, n]) and ``y`` ([n, 1]) are the ``supersample`` x ``supersample`` sample points of every pixel, measured
    from ``center`` in fractions of the image side; ``inside`` returns a boolean [n, n] mask.
    """
    n = resolution * supersample
    t = (np.arange(n, dtype=np.float32) + 0.5) / n
    mask = inside(t[None, :] - center[0], t[:, None] - center[1])
    return mask.reshape(resolution, supersample, resolution, supersample).mean(axis=(1, 3), dtype=np.float32)


def rotated(x: np.ndarray, y: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` in the frame of a shape turned by ``angle`` radians: ``(u, v)``."""
    cos, sin = math.cos(angle), math.sin(angle)
    return x * cos + y * sin, -x * sin + y * cos


def composite(background: np.ndarray, alpha: np.ndarray, rgb: Sequence[int]) -> Image.Image:
    """``rgb`` over ``background`` (float [H, W, 3] or [3]) with coverage ``alpha`` [H, W, 1], rounded to an RGB image."""
    pixels = background * (1 - alpha) + np.asarray(rgb, dtype=np.float32) * alpha
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), "RGB")
