"""The arithmetic of one optimisation step, as plain functions (no Lightning; tested in tests/test_step_math.py).

The rules follow the original release of StyleGAN-T (arXiv 2301.09515), whose training loop inherits them
from StyleGAN2-ADA: adversarial terms are divided by the micro-batch size before backward (the CLIP
guidance term of Sec. 3.3 is not), the gradients summed over micro-batches are multiplied by the number of
micro-batches and cleaned of NaN/inf, and the generator's EMA has a half-life in images with a ramp-up.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

#: gradients are clamped to +-this value when infinite (the original release's ``nan_to_num`` bounds)
GRAD_INF_VALUE = 1e5
#: EMA half-life per image of global batch: ``ema_kimg = batch_size * EMA_KIMG_PER_32_IMAGES / 32``
EMA_KIMG_PER_32_IMAGES = 10.0
#: EMA ramp-up: the half-life is at most this fraction of the images seen so far
EMA_RAMPUP = 0.05


def micro_batch_objective(
    adversarial: torch.Tensor, *, micro_batch_size: int, clip: torch.Tensor | None = None, clip_weight: float = 0.0
) -> torch.Tensor:
    """The value to backpropagate for one micro-batch: ``adversarial / micro_batch_size + clip_weight * clip``.

    Only the adversarial term is divided (the original release); the CLIP term keeps its weight, so the
    balance between the two does not depend on how the batch is split.
    """
    out = adversarial / micro_batch_size
    if clip is not None and clip_weight:
        out = out + clip_weight * clip
    return out


@torch.no_grad()
def finish_gradients(params: Iterable[torch.nn.Parameter], *, num_micro_batches: int) -> None:
    """In place: every gradient times ``num_micro_batches``, then NaN -> 0 and +-inf -> +-1e5.

    The gradients are summed over micro-batches (and averaged over ranks by DDP) before this.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if num_micro_batches != 1:
        torch._foreach_mul_(grads, float(num_micro_batches))
    for g in grads:
        g.nan_to_num_(nan=0.0, posinf=GRAD_INF_VALUE, neginf=-GRAD_INF_VALUE)


def default_ema_kimg(batch_size: int) -> float:
    """The EMA half-life in kimg for a global batch of ``batch_size`` images: ``batch_size * 10 / 32``."""
    return batch_size * EMA_KIMG_PER_32_IMAGES / 32


def ema_beta(*, batch_size: int, nimg: int, ema_kimg: float, rampup: float | None = EMA_RAMPUP) -> float:
    """Decay for one step of ``batch_size`` images: ``0.5 ** (batch / max(min(ema_kimg*1000, nimg*rampup), 1e-8))``.

    The ramp-up shortens the half-life early in training (``nimg`` images seen), so the EMA tracks fast then.
    """
    ema_nimg = ema_kimg * 1000
    if rampup is not None:
        ema_nimg = min(ema_nimg, nimg * rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


def step_seed(seed: int, *, images_seen: int, rank: int) -> int:
    """The seed of one training step's random draws, from (run seed, images seen, rank).

    A resumed run reaches the same ``images_seen`` and so draws the same latents and augmentations.
    """
    return (seed * 1_000_003 + images_seen * 7 + rank) % (2**63)
