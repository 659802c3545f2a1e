"""Adversarial losses (SPEC: "D: hinge", "G: -mean(D(fake))")."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 + D(fake))) + mean(relu(1 - D(real)))``."""
    return F.relu(1 + fake_logits.float()).mean() + F.relu(1 - real_logits.float()).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean(D(fake))`` (StyleGAN-T's generator loss for hinge D)."""
    return -fake_logits.float().mean()
