"""Does a generator draw what its prompts ask for? Prompts with the attribute values they name, generated with
held-out seeds, read by a detector (any ``image -> {attribute: value}`` function), scored per attribute next
to chance (1 / number of values); a marked grid shows each image with what was asked and what was seen.

Used by the demo's report (:mod:`stylegan_t.demo.alignment`, with its shape detector) and by the word check
of one's own data (``stylegan-t word-check``, with CLIP centroids as the reader).
"""
from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from PIL import Image, ImageDraw, ImageFont

from ..images import to_uint8

#: ``generate(prompts, seeds) -> images [N, 3, H, W] in [-1, 1]``, one image per (prompt, seed)
Generate = Callable[[list[str], list[int]], torch.Tensor]

#: held-out seeds start here; sample grids use small seeds (0, 1, 2, ...)
HELDOUT_SEED_BASE = 1_000_000
#: what a detector reports for an attribute it cannot read
NONE = "none"


class Prompt(NamedTuple):
    """A prompt's text and the attribute values it asks for, which a detector checks the image against."""

    text: str
    attributes: dict[str, str]  # what the prompt asks for (colour, shape and maybe position)


def heldout_seeds(num_prompts: int, *, seed: int = 2024) -> list[int]:
    """Distinct latent seeds for the held-out prompts, all >= ``HELDOUT_SEED_BASE``."""
    return random.Random(seed + 1).sample(range(HELDOUT_SEED_BASE, 2 * HELDOUT_SEED_BASE), num_prompts)


def _generate_all(generate: Generate, prompts: Sequence[Prompt], seeds: Sequence[int], batch_size: int) -> torch.Tensor:
    chunks = []
    for start in range(0, len(prompts), batch_size):
        texts = [p.text for p in prompts[start : start + batch_size]]
        images = generate(texts, list(seeds[start : start + batch_size]))
        if images.ndim != 4 or images.shape[0] != len(texts) or images.shape[1] != 3:
            raise ValueError(f"generate() must return [{len(texts)}, 3, H, W] images, got {tuple(images.shape)}")
        chunks.append(images.detach().float().cpu())
    return torch.cat(chunks)


def prompt_alignment(
    generate: Generate,
    prompts: Sequence[Prompt],
    seeds: Sequence[int],
    *,
    detect: Callable[[torch.Tensor], dict[str, str]],
    attributes: dict[str, tuple[str, ...]],
    detector: str,
    out_dir: str | Path | None = None,
    batch_size: int = 32,
) -> dict:
    """Generate each prompt with its seed, read every image with ``detect`` (attribute -> value or ``"none"``)
    and score each attribute over the prompts that ask for it, next to chance (1 / number of values).

    Returns (and with ``out_dir`` writes as ``alignment.json`` plus the marked grid ``alignment.png``):
    ``accuracy`` / ``chance`` / ``prompts`` per attribute, ``all_correct`` (every requested attribute
    right) with its chance level, ``none_detected`` (nothing found), ``confusion`` per attribute
    (``wanted -> detected -> count``) and one record per prompt in ``samples``.
    """
    num_prompts = len(prompts)
    images = _generate_all(generate, prompts, seeds, batch_size)
    names = [a for a in attributes if any(a in p.attributes for p in prompts)]
    correct = {a: 0 for a in names}
    asked = {a: 0 for a in names}
    confusion: dict[str, dict[str, dict[str, int]]] = {a: {} for a in names}
    samples, all_correct, all_chance, nothing = [], 0, 0.0, 0
    for prompt, seed_i, image in zip(prompts, seeds, images):
        found = detect(image)
        ok = {a: found[a] == v for a, v in prompt.attributes.items()}
        for a, v in prompt.attributes.items():
            asked[a] += 1
            correct[a] += ok[a]
            row = confusion[a].setdefault(v, {})
            row[found[a]] = row.get(found[a], 0) + 1
        all_correct += all(ok.values())
        all_chance += math.prod(1 / len(attributes[a]) for a in prompt.attributes)
        nothing += all(v == NONE for v in found.values())
        samples.append({"prompt": prompt.text, "seed": seed_i, "wanted": prompt.attributes, "detected": found, "correct": ok})
    report = {
        "num_prompts": num_prompts,
        "resolution": int(images.shape[-1]),
        "detector": detector,
        "accuracy": {a: correct[a] / asked[a] for a in names},
        "chance": {a: 1 / len(attributes[a]) for a in names},
        "prompts": asked,
        "all_correct": all_correct / max(num_prompts, 1),
        "all_correct_chance": all_chance / max(num_prompts, 1),
        "none_detected": nothing / max(num_prompts, 1),
        "confusion": confusion,
        "samples": samples,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "alignment.json").write_text(json.dumps(report, indent=1))
        marked_grid(images, samples).save(out / "alignment.png")
    return report


def format_report(report: dict) -> str:
    """The report as a small console table."""
    lines = [
        f"Text alignment on {report['num_prompts']} held-out prompts and seeds (detector: {report['detector']})",
        f"  {'attribute':<16}{'prompts':>8}{'accuracy':>10}{'chance':>9}",
    ]
    for a, accuracy in report["accuracy"].items():
        lines.append(f"  {a:<16}{report['prompts'][a]:>8}{accuracy:>10.1%}{report['chance'][a]:>9.1%}")
    lines.append(f"  {'all requested':<16}{report['num_prompts']:>8}{report['all_correct']:>10.1%}{report['all_correct_chance']:>9.1%}")
    if report["none_detected"]:
        lines.append(f"  no shape detected in {report['none_detected']:.1%} of the images")
    return "\n".join(lines)


def marked_grid(images: torch.Tensor, samples: list[dict], *, columns: int = 12) -> Image.Image:
    """The generated images, enlarged, each framed green (everything asked for is there) or red, with the
    request below it and, when wrong, what the detector saw instead."""
    n, _, h, w = images.shape
    scale = max(1, math.ceil(128 / max(h, w)))
    font = ImageFont.load_default()
    pad, text_h = 3, 26
    cell_w, cell_h = w * scale + 2 * pad, h * scale + 2 * pad + text_h
    columns = max(1, min(columns, n))
    grid = Image.new("RGB", (columns * cell_w, max(1, math.ceil(n / columns)) * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    pixels = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
    for i, (array, record) in enumerate(zip(pixels, samples)):
        x, y = (i % columns) * cell_w, (i // columns) * cell_h
        good = all(record["correct"].values())
        draw.rectangle((x, y, x + cell_w - 1, y + h * scale + 2 * pad - 1), fill=(40, 160, 60) if good else (210, 40, 40))
        grid.paste(Image.fromarray(array, "RGB").resize((w * scale, h * scale), Image.Resampling.NEAREST), (x + pad, y + pad))
        wanted = " ".join(record["wanted"].values())
        wrong = " ".join(record["detected"][a] for a, ok in record["correct"].items() if not ok)
        note, note_color = ("ok", (40, 140, 60)) if good else (f"saw {wrong}", (200, 30, 30))
        text_y = y + h * scale + 2 * pad
        draw.text((x + pad, text_y), _fit(draw, wanted, font, cell_w - pad), fill=(0, 0, 0), font=font)
        draw.text((x + pad, text_y + 12), _fit(draw, note, font, cell_w - pad), fill=note_color, font=font)
    return grid


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    while text and draw.textlength(text, font=font) > width:
        text = text[:-1]
    return text
