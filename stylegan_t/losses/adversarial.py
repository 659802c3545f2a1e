"""Adversarial losses (SPEC "Losses and schedule": hinge for D, ``-mean(D(fake))`` for G)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 + D(fake))) + mean(relu(1 - D(real)))``, in float32."""
    return F.relu(1 + fake_logits.float()).mean() + F.relu(1 - real_logits.float()).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean(D(fake))``, in float32 (the generator loss paired with the hinge D loss)."""
    return -fake_logits.float().mean()
