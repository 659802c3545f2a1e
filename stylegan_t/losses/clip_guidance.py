"""CLIP guidance (SPEC: ``clip_weight * d_sph(clip_img(fake), t)``) with its own frozen open_clip model."""
from __future__ import annotations

import os
import random

import torch
import torch.nn.functional as F
from torch import nn

from ..models.open_clip_loader import load_open_clip

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def spherical_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``arccos(<a/|a|, b/|b|>)^2`` per row."""
    cos = (F.normalize(a.float(), dim=-1) * F.normalize(b.float(), dim=-1)).sum(dim=-1)
    return cos.clamp(-1 + 1e-7, 1 - 1e-7).arccos().square()


class CLIPGuidance(nn.Module):
    """Mean spherical distance between CLIP image embeddings of generated images and their captions.

    Images larger than ``crop`` get one random ``crop`` x ``crop`` window (SPEC: 64 crops above 64x64),
    then an area resize to the CLIP input size and CLIP normalization.
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
        self.model, self.tokenizer = load_open_clip(model, pretrained, weights_dir=weights_dir)
        self.model.eval().requires_grad_(False)
        self.crop = crop
        size = self.model.visual.image_size
        self.input_size = size[0] if isinstance(size, (tuple, list)) else int(size)
        self.register_buffer("mean", torch.tensor(OPENAI_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(OPENAI_STD).reshape(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "CLIPGuidance":
        return super().train(False)  # frozen: always eval

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images -> random crop (if larger) -> area resize -> CLIP-normalized."""
        h, w = images.shape[-2:]
        if min(h, w) > self.crop:
            top, left = random.randint(0, h - self.crop), random.randint(0, w - self.crop)
            images = images[..., top : top + self.crop, left : left + self.crop]
        x = F.interpolate((images.float() + 1) / 2, size=(self.input_size, self.input_size), mode="area")
        return (x - self.mean) / self.std

    @torch.no_grad()
    def encode_text(self, captions: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(captions)).to(self.mean.device)
        return self.model.encode_text(tokens)

    def forward(self, images: torch.Tensor, captions: list[str]) -> torch.Tensor:
        image_features = self.model.encode_image(self.preprocess(images))
        return spherical_distance(image_features, self.encode_text(captions)).mean()
