"""Does a generator draw the words of its prompt? An alignment check for your own data and attribute words.

Without a hand-written detector, the pretrained CLIP itself reads the attributes: for each attribute (e.g.
``color = red, green, blue``) the held-out real images whose caption names exactly one of its values give
one centroid of CLIP image features per value; a generated image gets the value of the nearest centroid.
How far that reader can be trusted is measured first, on held-out real images it was not fitted on
(``real_accuracy``). Prompts are made from a template (``"a {color} {shape}"``), balanced over the values.

    stylegan-t word-check CKPT --clip runs/own/clip --shards runs/own/shards \\
        --attribute color=red,green,blue --attribute shape=circle,square --template "a {color} {shape}"

The generator was trained against a discriminator built on the same CLIP's image tower, so it can please
this reader more than a human; where a detector independent of the CLIP exists, prefer it.
"""
from __future__ import annotations

import itertools
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..images import pretrained_input
from ..metrics.prompt_alignment import Prompt
from ..models.open_clip_loader import image_settings
from ..utils.text import comma_items
from .config import PretrainClipConfig, PretrainClipError
from .data import HeldOut, find_shards, scan_held_out
from .train import MARKER

NONE = "none"


def named_values(caption: str, values: tuple[str, ...]) -> list[str]:
    """The values whose words occur in ``caption`` (whole words, case-insensitive)."""
    text = " " + " ".join(re.findall(r"[a-z0-9]+", caption.lower())) + " "
    return [v for v in values if f" {' '.join(re.findall(r'[a-z0-9]+', v.lower()))} " in text]


@dataclass
class WordProbe:
    """Nearest-centroid reader of attribute values from CLIP image features (see the module docstring)."""

    model: torch.nn.Module
    attributes: dict[str, tuple[str, ...]]
    centroids: dict[str, torch.Tensor]  # attribute -> [values, dim], unit length
    real_accuracy: dict[str, float]  # on held-out real images not used for the centroids
    real_samples: dict[str, int]

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Unit CLIP image features of ``[N, 3, H, W]`` images in [-1, 1]. Resized bilinearly with antialiasing, close to
        the Lanczos resize the shards' real images went through, and clamped as a saved image would be."""
        size, mean, std = image_settings(self.model.visual)
        x = pretrained_input(images.float(), size=size, mean=mean, std=std, resize="bilinear", antialias=True, clamp=True)
        return F.normalize(self.model.encode_image(x), dim=-1)

    def detect(self, image: torch.Tensor) -> dict[str, str]:
        """``{attribute: value}`` for one [3, H, W] image in [-1, 1]."""
        f = self.features(image[None])[0]
        return {a: self.attributes[a][int((c @ f).argmax())] for a, c in self.centroids.items()}


def held_out_split(clip_dir: str | Path, shards: str | list[str], resolution: int, *, max_samples: int = 4000) -> HeldOut:
    """Up to ``max_samples`` samples of the split ``pretrain-clip`` kept out of ``clip_dir``'s training, decoded."""
    try:
        settings = json.loads((Path(str(clip_dir).removeprefix("local-dir:")) / MARKER).read_text())["settings"]
    except (OSError, ValueError, KeyError):
        settings = {}
    cfg = PretrainClipConfig(holdout_fraction=settings.get("holdout_fraction", PretrainClipConfig.holdout_fraction),
                             caption_key=settings.get("caption_key", "txt"), eval_samples=max_samples)
    return scan_held_out(find_shards(shards), cfg, resolution)


def _centroids(features: torch.Tensor, labels: list[int], n: int) -> torch.Tensor:
    return F.normalize(torch.stack([features[[i for i, y in enumerate(labels) if y == v]].mean(0) for v in range(n)]), dim=-1)


def fit_word_probe(
    clip_dir: str | Path, shards: str | list[str], attributes: dict[str, tuple[str, ...]], *, max_samples: int = 4000,
    held: HeldOut | None = None, model: torch.nn.Module | None = None,
) -> WordProbe:
    """Centroids from the held-out split of ``shards`` that ``pretrain-clip`` kept out of ``clip_dir``'s training
    (``held``: that split, already read by :func:`held_out_split`; ``model``: the CLIP, already loaded in eval mode)."""
    from ..models.open_clip_loader import load_open_clip

    clip_dir = Path(str(clip_dir).removeprefix("local-dir:"))
    if model is None:
        model = load_open_clip(f"local-dir:{clip_dir}")[0].eval()
    held = held or held_out_split(clip_dir, shards, image_settings(model.visual)[0][0], max_samples=max_samples)
    probe = WordProbe(model, attributes, {}, {}, {})
    features = torch.cat([probe.features(held.images[i : i + 256]) for i in range(0, len(held.captions), 256)])
    for attribute, values in attributes.items():
        rows, labels = [], []
        for i, caption in enumerate(held.captions):
            named = named_values(caption, values)
            if len(named) == 1:
                rows.append(i)
                labels.append(values.index(named[0]))
        missing = [v for j, v in enumerate(values) if labels[0::2].count(j) == 0 or labels[1::2].count(j) == 0]
        if missing:
            raise PretrainClipError(f"word check: too few held-out captions name {attribute} {missing} "
                                    f"({len(held.captions)} held-out samples read); raise --max-samples or check the words")
        f = features[rows]
        fit_half = _centroids(f[0::2], labels[0::2], len(values))
        predicted = (f[1::2] @ fit_half.t()).argmax(1)
        probe.real_accuracy[attribute] = (predicted == torch.tensor(labels[1::2])).float().mean().item()
        probe.real_samples[attribute] = len(rows)
        probe.centroids[attribute] = _centroids(f, labels, len(values))
    return probe


def template_prompts(template: str, attributes: dict[str, tuple[str, ...]], num_prompts: int, *, seed: int = 0) -> list[Prompt]:
    """``num_prompts`` prompts from ``template`` with ``{attribute}`` fields, cycling shuffled rounds of all combinations."""
    names = [a for a in attributes if "{" + a + "}" in template]
    if not names:
        raise PretrainClipError(f"word check: template {template!r} names none of {list(attributes)} as {{attribute}}")
    combos = list(itertools.product(*(attributes[a] for a in names)))
    rng = random.Random(seed)
    prompts = []
    for i in range(num_prompts):
        if i % len(combos) == 0:
            rng.shuffle(combos)
        wanted = dict(zip(names, combos[i % len(combos)]))
        prompts.append(Prompt(template.format(**wanted), wanted))
    return prompts


def parse_attribute(text: str) -> tuple[str, tuple[str, ...]]:
    """``"color=red,green,blue"`` -> ``("color", ("red", "green", "blue"))``."""
    name, _, values = text.partition("=")
    words = tuple(comma_items(values))
    if not name.strip() or len(words) < 2:
        raise PretrainClipError(f"--attribute must look like name=value1,value2[,...], got {text!r}")
    return name.strip(), words
