"""Latents from seeds: the one way a seed becomes ``z``, shared by sampling, evaluation and the pipeline."""
from __future__ import annotations

from collections.abc import Iterable

import torch


def seed_latent(seed: int, z_dim: int) -> torch.Tensor:
    """``z`` [z_dim] for one seed, drawn on CPU from its own ``torch.Generator`` (device independent)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise ValueError(f"seeds must be integers in [0, 2**63), got {seed!r}")
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))


def seed_latents(seeds: Iterable[int], z_dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``z`` [len(seeds), z_dim], one row per seed (:func:`seed_latent`), moved to ``device``."""
    return torch.stack([seed_latent(int(s), z_dim) for s in seeds]).to(device)
