"""Baseline copy (commit 57ced87) for same-run A/B in benchmarks/recipe_ab.py: the D step's loss with the
matching-aware term in its own pass (features and heads run twice on the same real images)."""
from __future__ import annotations

import torch

from stylegan_t.losses import d_hinge_loss, d_mismatch_loss, mismatched_conditions
from stylegan_t.losses.blur import blur_images


def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, c: torch.Tensor, sigma: float) -> torch.Tensor:
    logits_fake = self.discriminator(blur_images(fake, sigma), c)
    real = blur_images(real, sigma)
    loss = d_hinge_loss(self.discriminator(real, c), logits_fake)
    if self.recipe.loss.mismatch_weight > 0:
        wrong, keep = mismatched_conditions(c, hardest=self.recipe.loss.mismatch_negatives == "hardest")
        loss = loss + self.recipe.loss.mismatch_weight * d_mismatch_loss(self.discriminator(real, wrong), keep)
    return loss
