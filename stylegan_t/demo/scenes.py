"""Procedural captioned scenes for the built-in demo: one coloured shape on a light background.

Every scene has a colour, a shape and a position; its caption always names the colour and the shape and
names the position for a fraction of the samples (``position_prob``). Shape size, the exact placement,
the shade of the colour and the background (a light, low-saturation tint with a gentle gradient) vary
freely, so the generator has something to model beyond the caption. The geometry lives in
:func:`coverage`, shared by the renderer and the detector's template match. The ``centered`` layout is an
easier variant: larger shapes near the middle, captions never naming a position.

Designed to be learnable by a tiny GAN at 32x32 and readable by a deterministic detector on noisy
outputs: four colours at least 50 degrees of hue apart, three shapes with very different fill of their
bounding box (square 1, circle pi/4, triangle 1/2), positions at least ~5 pixels apart at 32x32.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image

from .drawing import check_attributes, composite, sample_rng, supersampled

#: base RGB of each colour; every scene jitters the shade a little (saturated, hues ~0/50/130/225 deg)
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (222, 38, 38),
    "green": (38, 172, 60),
    "blue": (44, 84, 226),
    "yellow": (238, 208, 30),
}
#: the shapes a scene draws
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
#: where the shape stands in the ``positions`` layout (captions may name it)
POSITIONS: tuple[str, ...] = ("center", "left", "right", "top", "bottom")
#: the attributes captions control, with their values; chance level of an attribute = 1 / len(values)
ATTRIBUTES: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "shape": SHAPES, "position": POSITIONS}

#: shape size (side of the bounding box, fraction of the image); the triangle's base and height are equal
SIZE_RANGE = (0.36, 0.46)
#: layouts: ``positions`` places the shape at one of five spots (captions may say which); ``centered`` draws
#: larger shapes near the middle (position never named): easier shapes for a generator with little training
LAYOUTS = ("positions", "centered")
CENTERED_SIZE_RANGE = (0.5, 0.62)
_CENTERED_JITTER = 0.04
#: unit direction of each position from the image centre (image y points down)
_DIRECTIONS = {"center": (0.0, 0.0), "left": (-1.0, 0.0), "right": (1.0, 0.0), "top": (0.0, -1.0), "bottom": (0.0, 1.0)}
_EDGE_MARGIN = 0.03  # free border between the shape and the image edge, fraction of the image
_JITTER = 0.03  # placement jitter (perpendicular to the offset, or both axes at the centre)

# Caption variety is kept moderate on purpose: the demo's text encoder is tiny (random-init, or pretrained
# briefly on these captions), and every extra phrasing blurs how linearly the attributes can be read from
# its features (linear probe on a random-init ``stylegan-t-tiny``: >= 99.5% per attribute with these
# templates, 86-96% with twice as many). Projection D and the style affines only see linear maps of them.
_NOUN_PHRASE = "a {color} {shape}"
_PLACES = {
    "center": ("in the center", "in the middle", "in the center of the image"),
    "left": ("on the left", "on the left side", "at the left of the image"),
    "right": ("on the right", "on the right side", "at the right of the image"),
    "top": ("at the top", "near the top", "at the top of the image"),
    "bottom": ("at the bottom", "near the bottom", "at the bottom of the image"),
}
_SENTENCES = ("{np}", "a picture of {np}", "there is {np}")
_SENTENCES_PLAIN = ("{np} on a plain background", "{np}, nothing else")  # only for captions without a place
#: words the caption parser maps to attribute values
_VOCABULARY: dict[str, dict[str, str]] = {
    "color": {name: name for name in COLORS},
    "shape": {name: name for name in SHAPES},
    "position": {
        **{name: name for name in POSITIONS},
        **{"middle": "center", "centre": "center", "upper": "top", "lower": "bottom"},
    },
}


@dataclass(frozen=True)
class Scene:
    """Everything needed to draw one image; ``center`` is the shape's area centroid in [0, 1]^2."""

    color: str
    shape: str
    position: str
    size: float
    center: tuple[float, float]
    rgb: tuple[int, int, int]
    background: tuple[int, int, int]
    gradient: tuple[float, float]  # background brightness change across the image (x, y), in 0-255 units

    @property
    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape, "position": self.position}


class Sample(NamedTuple):
    """One dataset item; unpacks as ``image, caption, scene``."""

    image: Image.Image
    caption: str
    scene: Scene

    @property
    def attributes(self) -> dict[str, str]:
        """What is drawn; the caption names a subset (see :func:`parse_caption`)."""
        return self.scene.attributes


def position_offset(size: float) -> float:
    """Distance of an off-centre shape's centroid from the image centre: as far out as the triangle fits."""
    return 0.5 - 2.0 * size / 3.0 - _EDGE_MARGIN  # the triangle reaches 2/3 of its height above its centroid


def random_scene(
    rng: random.Random,
    *,
    color: str | None = None,
    shape: str | None = None,
    position: str | None = None,
    layout: str = "positions",
) -> Scene:
    """A scene with the given attributes (others drawn uniformly) and random nuisance factors."""
    check_attributes(ATTRIBUTES, color=color, shape=shape, position=position)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    if layout == "centered" and position not in (None, "center"):
        raise ValueError(f"the centered layout has no position {position!r}")
    color = color or rng.choice(ATTRIBUTES["color"])
    shape = shape or rng.choice(SHAPES)
    position = position or (rng.choice(POSITIONS) if layout == "positions" else "center")
    size = rng.uniform(*(SIZE_RANGE if layout == "positions" else CENTERED_SIZE_RANGE))
    dx, dy = _DIRECTIONS[position]
    offset = position_offset(size)
    jitter = _JITTER if layout == "positions" else _CENTERED_JITTER
    jx, jy = rng.uniform(-jitter, jitter), rng.uniform(-jitter, jitter)
    if position == "center":
        center = (0.5 + jx, 0.5 + jy)
    else:  # jitter only across the offset, never towards the edge
        center = (0.5 + dx * offset + (jx if dx == 0 else 0.0), 0.5 + dy * offset + (jy if dy == 0 else 0.0))
    base = COLORS[color]
    rgb = tuple(min(max(c + rng.randint(-14, 14), 0), 255) for c in base)
    grey = rng.randint(200, 246)
    background = tuple(min(grey + rng.randint(-7, 7), 255) for _ in range(3))
    gradient = (rng.uniform(-14, 14), rng.uniform(-14, 14))
    return Scene(color, shape, position, size, center, rgb, background, gradient)  # type: ignore[arg-type]


def coverage(shape: str, center: tuple[float, float], size: float, resolution: int, *, supersample: int = 4) -> np.ndarray:
    """Fraction of each pixel covered by the shape, float32 [resolution, resolution] (area antialiasing).

    Circle of diameter ``size``; axis-aligned square of side ``size``; upward triangle with base and height
    ``size``. ``center`` is the area centroid (for the triangle 1/3 of the height above the base).
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}")
    half = size / 2

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if shape == "circle":
            return x * x + y * y <= half * half
        if shape == "square":
            return (np.abs(x) <= half) & (np.abs(y) <= half)
        depth = y + 2 * size / 3  # triangle: distance below the apex
        return (depth >= 0) & (depth <= size) & (np.abs(x) <= depth / 2)

    return supersampled(inside, center, resolution, supersample)


def render(scene: Scene, resolution: int = 32) -> Image.Image:
    """The scene as an RGB image: background with a linear brightness gradient, shape blended by coverage."""
    t = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution - 0.5
    shade = scene.gradient[0] * t[None, :] + scene.gradient[1] * t[:, None]
    background = np.asarray(scene.background, dtype=np.float32)[None, None, :] + shade[:, :, None]
    return composite(background, coverage(scene.shape, scene.center, scene.size, resolution)[:, :, None], scene.rgb)


def compose_caption(attributes: dict[str, str], rng: random.Random) -> str:
    """A natural-language caption naming exactly ``attributes`` (colour and shape required, position optional)."""
    phrase = _NOUN_PHRASE.format(color=attributes["color"], shape=attributes["shape"])
    if "position" in attributes:
        return f"{rng.choice(_SENTENCES).format(np=phrase)} {rng.choice(_PLACES[attributes['position']])}"
    return rng.choice(_SENTENCES + _SENTENCES_PLAIN).format(np=phrase)


def parse_caption(caption: str) -> dict[str, str]:
    """The attributes a caption asks for, from the words it uses; an attribute named twice is left out."""
    words = re.findall(r"[a-z]+", caption.lower())
    found: dict[str, str] = {}
    for attribute, vocabulary in _VOCABULARY.items():
        values = {vocabulary[w] for w in words if w in vocabulary}
        if len(values) == 1:
            found[attribute] = values.pop()
    return found


def sample(index: int, *, seed: int = 0, resolution: int = 32, position_prob: float = 0.5, layout: str = "positions") -> Sample:
    """Sample ``index`` of the dataset ``seed``: (image, caption, scene), ``.attributes`` = what is drawn.

    Fully deterministic; the caption names the colour and shape, and the position with ``position_prob``
    (never in the ``centered`` layout)."""
    rng = sample_rng(index, seed)
    scene = random_scene(rng, layout=layout)
    named_position = rng.random() < position_prob and layout == "positions"
    named = scene.attributes if named_position else {"color": scene.color, "shape": scene.shape}
    return Sample(render(scene, resolution), compose_caption(named, rng), scene)
