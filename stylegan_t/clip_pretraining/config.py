"""Settings of contrastive CLIP pretraining on image-text shards (``stylegan-t pretrain-clip``).

StyleGAN-T needs a *pretrained* CLIP for its text encoder, the discriminator's feature network and CLIP
guidance (arXiv 2301.09515, Sections 3.1-3.3). Offline, with only one's own captioned images, a small CLIP
trained on them with the CLIP objective is the general substitute; these are its settings.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UserError


class PretrainClipError(UserError, ValueError):
    """Bad input to CLIP pretraining: no shards, no usable sample, an unknown architecture or setting."""


#: ``steps: None`` trains this many passes over the training split, within [AUTO_MIN_STEPS, AUTO_MAX_STEPS]. Measured on
#: 8192 rotated-shape images (docs/own-data.md): 10 passes left the image tower blind to shape (a linear probe
#: 58%), 40 passes read it (80%) and separated captions differing in one word
AUTO_PASSES, AUTO_MIN_STEPS, AUTO_MAX_STEPS = 40, 600, 4000


def auto_steps(train_samples: int, batch_size: int) -> int:
    """Steps for :data:`AUTO_PASSES` passes over ``train_samples`` at ``batch_size``, clipped to the CPU budget range."""
    return max(AUTO_MIN_STEPS, min(AUTO_MAX_STEPS, math.ceil(AUTO_PASSES * train_samples / batch_size)))


@dataclass
class PretrainClipConfig:
    """What is trained and how; everything here (plus the shards' fingerprint) decides whether a saved model is reused.

    ``model`` is an open_clip architecture name (``stylegan-t-tiny`` ships with stylegan_t); the images are
    read at its vision tower's input size. ``holdout_fraction`` of the samples (chosen by a hash of their key,
    so the split does not depend on shard order) never enter training; up to ``eval_samples`` of them give
    the retrieval score.
    """

    model: str = "stylegan-t-tiny"
    #: optimizer steps; None: :func:`auto_steps` of the training split's size
    steps: int | None = None
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    seed: int = 0
    holdout_fraction: float = 0.05
    eval_samples: int = 512
    caption_key: str = "txt"
    sample_shuffle: int = 1000
    num_workers: int = 0

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps is None or self.steps >= 1,
            "batch_size": self.batch_size >= 2,  # a contrastive batch needs negatives
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "warmup_fraction": 0 <= self.warmup_fraction < 1,
            "holdout_fraction": 0 <= self.holdout_fraction < 1,
            "eval_samples": self.eval_samples >= 0,
            "sample_shuffle": self.sample_shuffle >= 0,
            "num_workers": self.num_workers >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise PretrainClipError(f"pretrain-clip: invalid setting(s) {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")
        if not self.model or self.model.startswith(("local-dir:", "hf-hub:")):
            raise PretrainClipError(f"pretrain-clip: model must be an open_clip architecture name, got {self.model!r}")

    def as_dict(self) -> dict[str, Any]:
        """Every setting (``num_workers`` included: workers split the shards, so it changes the sample order)."""
        return asdict(self)
