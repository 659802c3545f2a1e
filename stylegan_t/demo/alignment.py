"""The demo's text-alignment report: does the generator draw what the prompt asks for?

Held-out prompts (balanced over colour x shape, half of them also naming a position, phrased with the
training caption templates, never one of :func:`grid_prompts`) are generated with seeds the sample
grids never use; :mod:`stylegan_t.demo.detector` reads every image, and each attribute's accuracy over
the prompts that ask for it is reported next to chance level (1 / number of values).
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from ..metrics.prompt_alignment import (  # noqa: F401 - the report's parts, used by the demo's callers too
    HELDOUT_SEED_BASE,
    Generate,
    Prompt,
    format_report,
    heldout_seeds,
    marked_grid,
    prompt_alignment,
)
from .detector import detect
from .scenes import ATTRIBUTES, POSITIONS, compose_caption

_GRID_PROMPTS = (
    "a red circle",
    "a green square",
    "a blue triangle",
    "a yellow circle",
    "a red triangle on the left",
    "a blue square at the top",
    "a yellow triangle on the right",
    "a green circle at the bottom",
)


def grid_prompts() -> list[str]:
    """Fixed prompts for the training sample grids: every colour and shape, some with a position."""
    return list(_GRID_PROMPTS)


def heldout_prompts(
    num_prompts: int, *, seed: int = 2024, exclude: Sequence[str] = (), with_position: bool = True
) -> list[Prompt]:
    """``num_prompts`` prompts: colour x shape combinations cycled in shuffled rounds, a position named in
    half of them (positions also cycled; none if not ``with_position``), random caption templates, never
    one of :func:`grid_prompts` or ``exclude`` (the prompts a run's sample grids actually use)."""
    rng = random.Random(seed)
    combos = [(c, s) for c in ATTRIBUTES["color"] for s in ATTRIBUTES["shape"]]
    places: list[str | None] = [*POSITIONS, *([None] * len(POSITIONS))] if with_position else [None]
    banned = set(_GRID_PROMPTS) | {" ".join(p.lower().split()) for p in exclude}
    prompts: list[Prompt] = []
    for i in range(num_prompts):
        if i % len(combos) == 0:
            rng.shuffle(combos)
        if i % len(places) == 0:
            rng.shuffle(places)
        color, shape = combos[i % len(combos)]
        wanted = {"color": color, "shape": shape}
        place = places[i % len(places)]
        if place is not None:
            wanted["position"] = place
        for _ in range(1000):
            text = compose_caption(wanted, rng)
            if text not in banned:
                break
        else:
            raise ValueError(f"every caption for {wanted} is excluded")
        prompts.append(Prompt(text, wanted))
    return prompts


def alignment_report(
    generate: Generate,
    *,
    num_prompts: int = 96,
    seed: int = 2024,
    out_dir: str | Path | None = None,
    batch_size: int = 32,
    exclude: Sequence[str] = (),
    with_position: bool = True,
) -> dict:
    """Generate the demo's held-out prompts, detect what was drawn, and score each attribute against chance.

    ``exclude`` and ``with_position`` are passed to :func:`heldout_prompts`; see :func:`prompt_alignment`
    for the report and the files written to ``out_dir``.
    """
    prompts = heldout_prompts(num_prompts, seed=seed, exclude=exclude, with_position=with_position)
    report = prompt_alignment(
        generate, prompts, heldout_seeds(num_prompts, seed=seed), detect=detect, attributes=ATTRIBUTES,
        detector="stylegan_t.demo.detector", out_dir=out_dir, batch_size=batch_size,
    )
    return {"num_prompts": num_prompts, "seed": seed, **report}


