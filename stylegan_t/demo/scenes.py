"""A procedural captioned dataset: one coloured shape on a light background, described in plain words.

Colour and shape are what the captions control (and what the demo's detector checks); position, size and
background tint vary freely so the generator has something to model beyond the caption.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 35, 35),
    "green": (35, 170, 50),
    "blue": (40, 70, 225),
    "yellow": (235, 200, 25),
}
SHAPES = ("circle", "square", "triangle")
TEMPLATES = (
    "a {color} {shape}",
    "a {color} {shape} on a white background",
    "a picture of a {color} {shape}",
    "one {color} {shape}",
    "there is a {color} {shape} in the image",
    "a simple drawing of a {color} {shape}",
    "a {shape} that is {color}",
    "{color} {shape}",
)
#: attributes the captions control, with their values (chance level = 1 / len(values))
ATTRIBUTES: dict[str, tuple[str, ...]] = {"color": tuple(COLORS), "shape": SHAPES}


@dataclass(frozen=True)
class Scene:
    color: str
    shape: str
    center: tuple[float, float]  # fraction of the image size
    size: float  # side of the bounding box, fraction of the image size
    background: tuple[int, int, int]

    @property
    def attributes(self) -> dict[str, str]:
        return {"color": self.color, "shape": self.shape}


def random_scene(rng: random.Random, *, color: str | None = None, shape: str | None = None) -> Scene:
    size = rng.uniform(0.45, 0.7)
    margin = size / 2 + 0.04
    grey = rng.randint(225, 250)
    return Scene(
        color=color or rng.choice(list(COLORS)),
        shape=shape or rng.choice(SHAPES),
        center=(rng.uniform(margin, 1 - margin), rng.uniform(margin, 1 - margin)),
        size=size,
        background=(grey + rng.randint(-5, 5), grey + rng.randint(-5, 5), grey + rng.randint(-5, 5)),
    )


def caption_for(scene: Scene, rng: random.Random) -> str:
    return rng.choice(TEMPLATES).format(color=scene.color, shape=scene.shape)


def render(scene: Scene, resolution: int = 32, *, supersample: int = 4) -> Image.Image:
    """Draw at ``supersample`` x the resolution and downsample: smooth, deterministic edges."""
    big = resolution * supersample
    img = Image.new("RGB", (big, big), scene.background)
    draw = ImageDraw.Draw(img)
    cx, cy = scene.center[0] * big, scene.center[1] * big
    half = scene.size * big / 2
    box = (cx - half, cy - half, cx + half, cy + half)
    fill = COLORS[scene.color]
    if scene.shape == "circle":
        draw.ellipse(box, fill=fill)
    elif scene.shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(cx, cy - half), (cx + half, cy + half), (cx - half, cy + half)], fill=fill)
    return img.resize((resolution, resolution), Image.Resampling.LANCZOS)


def sample(index: int, *, seed: int = 0, resolution: int = 32) -> tuple[Image.Image, str, Scene]:
    """The ``index``-th sample of the dataset with ``seed``: (image, caption, scene), fully deterministic."""
    rng = random.Random(seed * 1_000_003 + index)
    scene = random_scene(rng)
    return render(scene, resolution), caption_for(scene, rng), scene


def parse_caption(caption: str) -> dict[str, str]:
    """The attributes a caption asks for (the words it contains)."""
    words = caption.lower().replace(",", " ").split()
    found = {}
    for attribute, values in ATTRIBUTES.items():
        hits = [v for v in values if v in words]
        if len(hits) == 1:
            found[attribute] = hits[0]
    return found
