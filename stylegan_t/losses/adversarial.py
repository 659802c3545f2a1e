"""Adversarial losses (paper Sec. 3.2: hinge for D, ``-mean(D(fake))`` for G)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 + D(fake))) + mean(relu(1 - D(real)))``, in float32."""
    return F.relu(1 + fake_logits.float()).mean() + F.relu(1 - real_logits.float()).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean(D(fake))``, in float32 (the generator loss paired with the hinge D loss)."""
    return -fake_logits.float().mean()


#: conditionings at or above this cosine count as paraphrases of each other: no negative for the matching-aware term
PARAPHRASE_COSINE = 0.9


def mismatched_conditions(
    c: torch.Tensor, *, max_cosine: float = PARAPHRASE_COSINE, hardest: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A wrong conditioning for each sample and a mask of the samples that have one.

    Default: the neighbour's (``c.roll(1)``), kept where it really differs (cosine < ``max_cosine``: a paraphrase
    of the own caption is no negative). ``hardest``: the most similar other conditioning of the batch below
    ``max_cosine``, so that captions differing in one word (a shape, not a colour) are the usual negatives.
    """
    if not hardest:
        wrong = c.roll(1, dims=0)
        keep = F.cosine_similarity(c.float(), wrong.float(), dim=-1) < max_cosine
        return wrong, keep
    unit = F.normalize(c.float(), dim=-1)
    cos = unit @ unit.t()
    cos = cos.masked_fill(torch.eye(len(c), dtype=torch.bool, device=c.device) | (cos >= max_cosine), float("-inf"))
    best, index = cos.max(dim=1)
    return c[index], torch.isfinite(best)


def d_mismatch_loss(mismatch_logits: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Matching-aware term: real images under a wrong caption count as fake, ``mean(relu(1 + D(real, c')))``
    over the kept samples (not in the paper; an option that speeds up learning text alignment)."""
    per_sample = F.relu(1 + mismatch_logits.float()).flatten(1).mean(dim=1)
    return (per_sample * keep.float()).sum() / keep.numel()
