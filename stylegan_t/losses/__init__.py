"""Losses (paper Sec. 3.2-3.3): hinge / non-saturating, D-input blur, CLIP guidance.

``CLIPGuidance`` lives in :mod:`stylegan_t.losses.clip_guidance` (it needs open_clip) and is imported lazily.
"""
from __future__ import annotations

from typing import Any

from .adversarial import d_hinge_loss, d_mismatch_loss, g_nonsaturating_loss, mismatched_conditions
from .blur import BLUR_FADE_KIMG, BLUR_SIGMA0, blur_images, blur_kernel, blur_sigma

__all__ = [
    "d_hinge_loss",
    "d_mismatch_loss",
    "mismatched_conditions",
    "g_nonsaturating_loss",
    "BLUR_SIGMA0",
    "BLUR_FADE_KIMG",
    "blur_images",
    "blur_kernel",
    "blur_sigma",
    "CLIPGuidance",
    "spherical_distance",
]


def __getattr__(name: str) -> Any:
    if name in ("CLIPGuidance", "spherical_distance"):
        from . import clip_guidance

        return getattr(clip_guidance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
