"""The randomness of one training step, reproducible across a resume and independent of the caller's RNG."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class StepRandomness:
    """A ``torch.Generator`` per device, re-seeded for every step; draws made inside the networks (noise inputs,
    DiffAugment, crops) use a forked global RNG state seeded from it, restored afterwards."""

    def __init__(self) -> None:
        self._rng: torch.Generator | None = None

    @contextmanager
    def __call__(self, device: torch.device, seed: int) -> Iterator[torch.Generator]:
        """``with randomness(device, step_seed(...)) as rng:`` the step's generator, seeded with ``seed``."""
        if self._rng is None or self._rng.device != device:
            self._rng = torch.Generator(device=device)
        rng = self._rng.manual_seed(seed)
        inner = int(torch.randint(0, 2**62, (), generator=rng, device=rng.device))
        cuda = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.default_generator.manual_seed(inner)
            if cuda:
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(inner)
            yield rng
