"""A third procedural captioned world ("rotated shapes"): plain shapes at any rotation, size and place.

One filled circle, square or triangle in one of six colours, at a random size (28-62% of the image), any
rotation and any position that keeps it inside, on a white or a black background. Captions name colour and
shape in one of seven training wordings ("a red circle", "a picture of a square that is blue", "simple green
triangle icon", "the square is cyan", ...); three more wordings never appear in a training caption and are
kept for evaluation ("a circle drawn in red", ...). The world was made to try the own-data path
(docs/own-data.md) as a new user would, on data the project had not been developed on; its reader is a small
CNN trained on renders of the set (:mod:`stylegan_t.demo.shape_cnn`), independent of the training code.
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

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (35, 60, 225),
    "yellow": (235, 215, 20),
    "cyan": (20, 205, 215),
    "magenta": (210, 40, 200),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
BACKGROUNDS: dict[str, tuple[int, int, int]] = {"white": (255, 255, 255), "black": (0, 0, 0)}
ATTRIBUTES: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "shape": SHAPES}
SIZE_RANGE = (0.28, 0.62)  # circumscribed-circle diameter / image side

#: training wordings; {c} colour, {s} shape, {b} background
TRAIN_TEMPLATES = (
    "a {c} {s}",
    "a picture of a {s} that is {c}",
    "simple {c} {s} icon",
    "the {s} is {c}",
    "a {c} {s} on a {b} background",
    "{c} {s}",
    "an image of a {c} {s}",
)
#: evaluation wordings: none of them is a training caption, each has words no training caption uses
HELDOUT_TEMPLATES = ("a {s} drawn in {c}", "{c} coloured {s} shown here", "my {s}: {c}")


@dataclass(frozen=True)
class ShapeScene:
    color: str
    shape: str
    background: str
    center: tuple[float, float]
    size: float  # diameter of the circumscribed circle, fraction of the image
    angle: float  # radians
    rgb: tuple[int, int, int]

    @property
    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape}


def random_shape_scene(rng: random.Random, *, color: str | None = None, shape: str | None = None) -> ShapeScene:
    """A scene with the given attributes (others uniform), random size, rotation, place and background."""
    check_attributes(ATTRIBUTES, color=color, shape=shape)
    color, shape = color or rng.choice(tuple(COLORS)), shape or rng.choice(SHAPES)
    background = rng.choice(tuple(BACKGROUNDS))
    size = rng.uniform(*SIZE_RANGE)
    r = size / 2 + 0.02
    center = (rng.uniform(r, 1 - r), rng.uniform(r, 1 - r))
    rgb = tuple(min(max(v + rng.randint(-15, 15), 0), 255) for v in COLORS[color])
    return ShapeScene(color, shape, background, center, size, rng.uniform(0, 2 * math.pi), rgb)  # type: ignore[arg-type]


def coverage(scene: ShapeScene, resolution: int, *, supersample: int = 4) -> np.ndarray:
    """Fraction of each pixel covered by the shape, float32 [resolution, resolution]."""
    if scene.shape not in SHAPES:
        raise ValueError(f"unknown shape {scene.shape!r}")
    radius = scene.size / 2

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = rotated(x, y, scene.angle)
        if scene.shape == "circle":
            return u * u + v * v <= radius * radius
        if scene.shape == "square":  # corners on the circumscribed circle
            half = radius / math.sqrt(2)
            return (np.abs(u) <= half) & (np.abs(v) <= half)
        mask = np.ones(u.shape, dtype=bool)  # triangle: equilateral, vertices on the circumscribed circle
        for k in range(3):
            a = 2 * math.pi * k / 3 + math.pi / 2  # edge normals (rotation is in u, v)
            mask &= u * math.cos(a) + v * math.sin(a) <= radius / 2
        return mask

    return supersampled(inside, scene.center, resolution, supersample)


def render(scene: ShapeScene, resolution: int = 32) -> Image.Image:
    """The scene as an RGB image: the shape blended by its coverage over the plain white or black background."""
    background = np.asarray(BACKGROUNDS[scene.background], dtype=np.float32)
    return composite(background, coverage(scene, resolution)[:, :, None], scene.rgb)


def caption(scene_or_attributes: ShapeScene | dict[str, str], rng: random.Random,
            templates: tuple[str, ...] = TRAIN_TEMPLATES, *, background: str | None = None) -> str:
    """A caption naming colour and shape (and, in one training wording, the background)."""
    if isinstance(scene_or_attributes, ShapeScene):
        attributes, background = scene_or_attributes.attributes, scene_or_attributes.background
    else:
        attributes = scene_or_attributes
    template = rng.choice(templates)
    return template.format(c=attributes["color"], s=attributes["shape"], b=background or rng.choice(tuple(BACKGROUNDS)))


def sample(index: int, *, seed: int = 0, resolution: int = 32) -> tuple[Image.Image, str, ShapeScene]:
    """Sample ``index`` of the data set ``seed``: (image, caption, scene); deterministic."""
    rng = sample_rng(index, seed)
    scene = random_shape_scene(rng)
    return render(scene, resolution), caption(scene, rng), scene


def write_image_folder(folder: str | Path, num_samples: int, *, seed: int = 0, resolution: int = 32) -> Path:
    """``000000.png`` + ``000000.txt`` ... in ``folder``: the form a user's own captioned images take."""
    return write_captioned_images(folder, (sample(i, seed=seed, resolution=resolution)[:2] for i in range(num_samples)))


def evaluation_prompts(*, heldout: bool, repeats: int = 16, seed: int = 11) -> list[Prompt]:
    """Every (colour, shape) pair ``repeats`` times (18 x 16 by default), in a training wording or in a
    held-out one; each round of 18 in a shuffled order."""
    rng = random.Random(seed + heldout)
    combos = [(c, s) for c in COLORS for s in SHAPES]
    prompts = []
    for _ in range(repeats):
        rng.shuffle(combos)
        for color, shape in combos:
            wanted = {"color": color, "shape": shape}
            text = caption(wanted, rng, HELDOUT_TEMPLATES if heldout else TRAIN_TEMPLATES)
            prompts.append(Prompt(text, wanted))
    return prompts
