"""A second procedural captioned world ("glyphs"), unlike the demo's in every respect, to test generality.

The demo draws one light-background shape named by colour, shape and place. Here: one or two glyphs of the
same colour and shape on a *dark*, noisy background with a gradient in a random direction; five colours the
demo never uses (orange, lime, cyan, purple, pink); three shapes (ring, cross, bar) drawn at random sizes
and *rotations*; the count ("one" / "two") is an attribute; captions follow another grammar ("a pair of
cyan rings on a dark background"), and the evaluation prompts use a wording no caption uses
("exactly two rings in cyan"). Nothing in the training code knows this module: a run writes an ordinary
image folder with ``.txt`` captions and goes through ``make-shards``, ``pretrain-clip`` and ``fit``.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.folder import write_captioned_images
from ..metrics.prompt_alignment import Prompt
from .drawing import check_attributes, composite, rotated, sample_rng, supersampled

#: base RGB per colour (hues ~28/83/186/273/326 deg, at least 50 deg apart); each glyph jitters the shade
COLORS: dict[str, tuple[int, int, int]] = {
    "orange": (245, 130, 25),
    "lime": (150, 215, 30),
    "cyan": (25, 195, 215),
    "purple": (145, 60, 215),
    "pink": (240, 80, 170),
}
SHAPES: tuple[str, ...] = ("ring", "cross", "bar")
COUNTS: tuple[str, ...] = ("one", "two")
ATTRIBUTES: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "shape": SHAPES, "count": COUNTS}

RING_INNER = 0.5  # hole diameter / outer diameter
CROSS_ARM = 0.36  # arm width / span
BAR_WIDTH = 0.3  # width / length
#: area of each shape at size 1 (size = outer diameter, span or length)
UNIT_AREA = {"ring": math.pi / 4 * (1 - RING_INNER**2), "cross": 2 * CROSS_ARM - CROSS_ARM**2, "bar": BAR_WIDTH}
SIZE_RANGE = {"one": (0.42, 0.62), "two": (0.3, 0.4)}
_REACH = 0.53  # radius of the circle around any rotated glyph, per unit of size
_MARGIN, _GAP = 0.03, 0.08  # free border, and least space between two glyphs (fractions of the image)

_PLURAL = {"ring": "rings", "cross": "crosses", "bar": "bars"}
_COUNT_WORDS = {"one": ("one", "a single"), "two": ("two", "a pair of")}
#: training caption grammar; {n} count words, {c} colour, {s} shape noun (plural for two)
TRAIN_TEMPLATES = ("{n} {c} {s}", "{n} {c} {s} on a dark background", "dark photo, {n} {c} {s}", "{n} {s}, {c}")
#: evaluation wording, never in a training caption: the count as a number word only, the colour last
HELDOUT_TEMPLATES = ("exactly {n} {s} in {c}", "{c}: {n} {s} here")


@dataclass(frozen=True)
class Glyph:
    shape: str
    center: tuple[float, float]
    size: float
    angle: float  # radians


@dataclass(frozen=True)
class GlyphScene:
    """Everything needed to draw one image."""

    color: str
    shape: str
    count: str
    glyphs: tuple[Glyph, ...]
    rgb: tuple[int, int, int]
    background: tuple[int, int, int]
    gradient: tuple[float, float]  # brightness change across the image (x, y), 0-255 units
    noise_seed: int

    @property
    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape, "count": self.count}


def _place(rng: random.Random, sizes: list[float]) -> list[tuple[float, float]]:
    for _ in range(1000):
        centers = []
        for size in sizes:
            r = _REACH * size + _MARGIN
            centers.append((rng.uniform(r, 1 - r), rng.uniform(r, 1 - r)))
        if len(centers) < 2 or math.dist(*centers) >= _REACH * sum(sizes) + _GAP:
            return centers
    raise RuntimeError("could not place the glyphs apart")  # not reached with the size ranges above


def random_glyph_scene(rng: random.Random, *, color: str | None = None, shape: str | None = None, count: str | None = None) -> GlyphScene:
    """A scene with the given attributes (others uniform) and random sizes, rotations, places and background."""
    check_attributes(ATTRIBUTES, color=color, shape=shape, count=count)
    color, shape, count = color or rng.choice(tuple(COLORS)), shape or rng.choice(SHAPES), count or rng.choice(COUNTS)
    sizes = [rng.uniform(*SIZE_RANGE[count]) for _ in range(COUNTS.index(count) + 1)]
    glyphs = tuple(Glyph(shape, c, s, rng.uniform(0, math.pi)) for c, s in zip(_place(rng, sizes), sizes))
    rgb = tuple(min(max(v + rng.randint(-12, 12), 0), 255) for v in COLORS[color])
    grey = rng.randint(18, 70)
    background = tuple(max(grey + rng.randint(-8, 8), 0) for _ in range(3))
    angle, amount = rng.uniform(0, 2 * math.pi), rng.uniform(0, 30)
    gradient = (amount * math.cos(angle), amount * math.sin(angle))
    return GlyphScene(color, shape, count, glyphs, rgb, background, gradient, rng.randrange(2**31))  # type: ignore[arg-type]


def coverage(glyph: Glyph, resolution: int, *, supersample: int = 4) -> np.ndarray:
    """Fraction of each pixel covered by one glyph, float32 [resolution, resolution]."""
    if glyph.shape not in SHAPES:
        raise ValueError(f"unknown shape {glyph.shape!r}")
    half = glyph.size / 2

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = (np.abs(c) for c in rotated(x, y, glyph.angle))
        if glyph.shape == "ring":
            r2 = u * u + v * v
            return (r2 <= half * half) & (r2 >= (RING_INNER * half) ** 2)
        if glyph.shape == "cross":
            arm = CROSS_ARM * half
            return ((u <= half) & (v <= arm)) | ((v <= half) & (u <= arm))
        return (u <= half) & (v <= BAR_WIDTH * half)

    return supersampled(inside, glyph.center, resolution, supersample)


def render(scene: GlyphScene, resolution: int = 32) -> Image.Image:
    """Dark background (tint + gradient + pixel noise) with the glyphs blended in by coverage."""
    t = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution - 0.5
    shade = scene.gradient[0] * t[None, :] + scene.gradient[1] * t[:, None]
    noise = np.random.default_rng(scene.noise_seed).normal(0, 5, (resolution, resolution, 3)).astype(np.float32)
    background = np.asarray(scene.background, dtype=np.float32)[None, None, :] + shade[:, :, None] + noise
    alpha = np.zeros((resolution, resolution, 1), dtype=np.float32)
    for glyph in scene.glyphs:
        alpha = np.maximum(alpha, coverage(glyph, resolution)[:, :, None])
    return composite(background, alpha, scene.rgb)


def caption(attributes: dict[str, str], rng: random.Random, templates: tuple[str, ...] = TRAIN_TEMPLATES) -> str:
    """A caption naming colour, shape and count with one of ``templates``."""
    count = attributes["count"]
    noun = attributes["shape"] if count == "one" else _PLURAL[attributes["shape"]]
    words = (count,) if templates is HELDOUT_TEMPLATES else _COUNT_WORDS[count]
    return rng.choice(templates).format(n=rng.choice(words), c=attributes["color"], s=noun)


def sample(index: int, *, seed: int = 0, resolution: int = 32) -> tuple[Image.Image, str, GlyphScene]:
    """Sample ``index`` of the data set ``seed``: (image, caption, scene); deterministic."""
    rng = sample_rng(index, seed)
    scene = random_glyph_scene(rng)
    return render(scene, resolution), caption(scene.attributes, rng), scene


def write_image_folder(folder: str | Path, num_samples: int, *, seed: int = 0, resolution: int = 32) -> Path:
    """``000000.png`` + ``000000.txt`` ... in ``folder``: the form a user's own captioned images take."""
    return write_captioned_images(folder, (sample(i, seed=seed, resolution=resolution)[:2] for i in range(num_samples)))


def heldout_prompts(num_prompts: int, *, seed: int = 7) -> list[Prompt]:
    """Evaluation prompts in the held-out wording, balanced over colour x shape x count (shuffled rounds)."""
    rng = random.Random(seed)
    combos = [(c, s, n) for c in ATTRIBUTES["color"] for s in SHAPES for n in COUNTS]
    prompts = []
    for i in range(num_prompts):
        if i % len(combos) == 0:
            rng.shuffle(combos)
        color, shape, count = combos[i % len(combos)]
        wanted = {"color": color, "shape": shape, "count": count}
        prompts.append(Prompt(caption(wanted, rng, HELDOUT_TEMPLATES), wanted))
    return prompts
