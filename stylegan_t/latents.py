"""Seeds and latents: the seed range, seed lists as users write them (``0-7,10``), and the one way a seed becomes
``z``, shared by training samples, evaluation, the pipeline, the CLI and the playground."""
from __future__ import annotations

import re
from collections.abc import Iterable

import torch

from .utils.text import comma_items

#: seeds draw z from ``torch.Generator().manual_seed(seed)``, which takes [0, 2**63)
MAX_SEED = 2**63 - 1


def is_seed(seed: object) -> bool:
    return isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED


def check_seed(seed: int) -> int:
    """``seed`` if it is in [0, MAX_SEED], else a ``ValueError`` naming the valid range."""
    if not is_seed(seed):
        raise ValueError(f"seed {seed!r} is out of range: seeds are integers in [0, 2**63-1]")
    return seed


def parse_seeds(text: str) -> list[int]:
    """``"0-7,10,12"`` -> ``[0, 1, ..., 7, 10, 12]`` (inclusive ranges, order kept, duplicates dropped)."""
    seeds: list[int] = []
    for part in comma_items(text):
        match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if match:
            lo, hi = int(match.group(1)), int(match.group(2))
            if hi < lo:
                raise ValueError(f"seed range {part!r} is empty (end before start)")
            values = range(lo, hi + 1)
        elif part.isdigit():
            values = [int(part)]
        elif re.fullmatch(r"-\d+", part):
            raise ValueError(f"seed {part} is out of range: seeds are integers in [0, 2**63-1]")
        else:
            raise ValueError(f"cannot parse seeds {text!r}: use integers in [0, 2**63-1] and ranges, e.g. 0-7,10,12")
        if values:
            check_seed(values[-1])  # ranges are increasing: the last value is the largest
        seeds += [v for v in values if v not in seeds]
    if not seeds:
        raise ValueError("no seeds given")
    return seeds


def seed_latent(seed: int, z_dim: int) -> torch.Tensor:
    """``z`` [z_dim] for one seed, drawn on CPU from its own ``torch.Generator`` (device independent)."""
    check_seed(seed)
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))


def seed_latents(seeds: Iterable[int], z_dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``z`` [len(seeds), z_dim], one row per seed (:func:`seed_latent`), moved to ``device``."""
    return torch.stack([seed_latent(int(s), z_dim) for s in seeds]).to(device)


@torch.no_grad()
def prompt_seed_grid(generator: torch.nn.Module, prompts: list[str], seeds: list[int], *, truncation_psi: float = 1.0,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """Images ``[len(prompts) * len(seeds), C, R, R]`` of a bare generator for every (prompt, seed), prompt-major,
    constant noise: what the training sample grids draw (the pipeline adds batching, precision and outputs)."""
    zs = seed_latents(seeds, generator.z_dim, device)
    return torch.cat([generator(zs, [p] * len(seeds), truncation_psi=truncation_psi, noise_mode="const") for p in prompts])
