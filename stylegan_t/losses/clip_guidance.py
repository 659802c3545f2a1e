"""CLIP guidance (paper Sec. 3.3: ``clip_weight * d_sph(clip_img(fake), t)``) with its own frozen CLIP.

The CLIP comes from local files only (``pretrained``: a file, a tag in the weights folder, or ``random``
for tests); see :mod:`stylegan_t.models.open_clip_loader`.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..images import crop_window, pretrained_input
from ..models.open_clip_loader import image_settings, load_open_clip


def spherical_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``arccos(<a/|a|, b/|b|>)^2`` per row, in float32 (cosine clamped inside (-1, 1) so gradients stay finite)."""
    cos = (F.normalize(a.float(), dim=-1) * F.normalize(b.float(), dim=-1)).sum(dim=-1)
    return cos.clamp(-1 + 1e-7, 1 - 1e-7).arccos().square()


class CLIPGuidance(nn.Module):
    """Mean spherical distance between the CLIP embeddings of generated images and of their captions.

    Images larger than ``crop`` get one random ``crop x crop`` window (paper Sec. 3.3: 64x64 crops), then an area resize to the
    CLIP input size (224 for ViT-L/14) and CLIP's normalization. The CLIP model is frozen and loaded offline.
    """

    def __init__(
        self,
        model: str = "ViT-L-14-quickgelu",
        pretrained: str | None = None,
        *,
        crop: int = 64,
        weights_dir: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        self.model, self.tokenizer = load_open_clip(model, pretrained, text_only=False, weights_dir=weights_dir)
        self.model.eval().requires_grad_(False)
        self.crop = crop
        self.input_size, mean, std = image_settings(self.model.visual)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "CLIPGuidance":
        return super().train(False)  # frozen: always eval

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``[-1, 1]`` images -> random crop (if larger) -> area resize (the original's) -> CLIP-normalized, in float32."""
        x = crop_window(images, self.crop).float()
        return pretrained_input(x, size=self.input_size, mean=self.mean, std=self.std, resize="area")

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP image embeddings of ``[-1, 1]`` images (differentiable in the images)."""
        return self.model.encode_image(self.preprocess(images))

    @torch.no_grad()
    def encode_text(self, captions: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(captions)).to(self.mean.device)
        return self.model.encode_text(tokens)

    def forward(self, images: torch.Tensor, text: Sequence[str] | torch.Tensor) -> torch.Tensor:
        """Mean ``d_sph`` over the batch; ``text``: captions, or their embeddings from this CLIP."""
        text_features = text if isinstance(text, torch.Tensor) else self.encode_text(text)
        return spherical_distance(self.encode_images(images), text_features).mean()
