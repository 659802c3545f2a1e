"""The demo's alignment report: does the generator draw what the prompt asks for? (issue: demo acceptance)

Held-out prompts (a seed distinct from the sample grids) are generated, the deterministic detector reads
each image, and accuracy per attribute is reported next to chance level.
"""
from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from .detector import detect
from .scenes import ATTRIBUTES, TEMPLATES

Generate = Callable[[list[str], list[int]], torch.Tensor]


def heldout_prompts(num_prompts: int, *, seed: int = 12345, exclude: Sequence[str] = ()) -> list[tuple[str, dict[str, str]]]:
    """Balanced (colour, shape) combinations in random templates, never one of the ``exclude``d (grid) prompts."""
    rng = random.Random(seed)
    combos = [(c, s) for c in ATTRIBUTES["color"] for s in ATTRIBUTES["shape"]]
    excluded = {p.strip().lower() for p in exclude}
    out = []
    for i in range(num_prompts):
        color, shape = combos[i % len(combos)]
        candidates = [t.format(color=color, shape=shape) for t in TEMPLATES]
        prompt = rng.choice([c for c in candidates if c.lower() not in excluded])
        out.append((prompt, {"color": color, "shape": shape}))
    return out


def alignment_report(
    generate: Generate,
    *,
    num_prompts: int = 96,
    seed: int = 12345,
    exclude: Sequence[str] = (),
    out_dir: str | Path | None = None,
    batch_size: int = 32,
) -> dict:
    """Accuracy per attribute over ``num_prompts`` held-out prompts (not in ``exclude``; seeds from 10_000 up)."""
    prompts = heldout_prompts(num_prompts, seed=seed, exclude=exclude)
    seeds = [10_000 + i for i in range(num_prompts)]
    images = []
    for start in range(0, num_prompts, batch_size):
        images.append(generate([p for p, _ in prompts[start : start + batch_size]], seeds[start : start + batch_size]).cpu())
    images_t = torch.cat(images)
    rows = []
    correct = {a: 0 for a in ATTRIBUTES}
    for (prompt, wanted), seed_i, image in zip(prompts, seeds, images_t):
        found = detect(image)
        ok = {a: found[a] == wanted[a] for a in ATTRIBUTES}
        for a in ATTRIBUTES:
            correct[a] += ok[a]
        rows.append({"prompt": prompt, "seed": seed_i, "wanted": wanted, "detected": found, "correct": ok})
    report = {
        "num_prompts": num_prompts,
        "accuracy": {a: correct[a] / num_prompts for a in ATTRIBUTES},
        "chance": {a: 1 / len(v) for a, v in ATTRIBUTES.items()},
        "samples": rows,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "alignment.json").write_text(json.dumps(report, indent=1))
        marked_grid(images_t, rows).save(out / "alignment.png")
    return report


def marked_grid(images: torch.Tensor, rows: list[dict], *, columns: int = 12, scale: int = 2) -> Image.Image:
    """Generated images with a green (all attributes right) or red (something wrong) frame."""
    n, _, h, w = images.shape
    cell_h, cell_w = h * scale + 4, w * scale + 4
    grid = Image.new("RGB", (columns * cell_w, math.ceil(n / columns) * cell_h), (255, 255, 255))
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    draw = ImageDraw.Draw(grid)
    for i, (arr, row) in enumerate(zip(pixels, rows)):
        x, y = (i % columns) * cell_w, (i // columns) * cell_h
        frame = (40, 170, 60) if all(row["correct"].values()) else (220, 40, 40)
        draw.rectangle((x, y, x + cell_w - 1, y + cell_h - 1), outline=frame, width=2)
        grid.paste(Image.fromarray(arr).resize((w * scale, h * scale), Image.Resampling.NEAREST), (x + 2, y + 2))
    return grid


def format_report(report: dict) -> str:
    lines = [f"Text alignment on {report['num_prompts']} held-out prompts (detector: stylegan_t.demo.detector)", ""]
    lines.append(f"  {'attribute':<10} {'accuracy':>9} {'chance':>8}")
    for attribute, accuracy in report["accuracy"].items():
        lines.append(f"  {attribute:<10} {accuracy:>8.1%} {report['chance'][attribute]:>8.1%}")
    return "\n".join(lines)
