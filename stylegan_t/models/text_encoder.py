"""Text encoder (paper Sec. 3.1, "stronger text conditioning": ``t = normalize(CLIP_text(c))``): an open_clip text tower."""
from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from .open_clip_loader import load_open_clip, resolve_pretrained


class TextEncoder(nn.Module):
    """open_clip text tower plus tokenizer, visual tower dropped, frozen by default; L2-normalized output.

    ``model`` is an open_clip architecture name (with ``pretrained`` a local file or a tag resolved to
    a local file) or ``local-dir:<folder>``; see :mod:`stylegan_t.models.open_clip_loader`. Without
    weights the tower is initialised from ``seed`` (a private RNG), so it can be rebuilt exactly.
    ``by_reference``: the weights are still those of the spec (files then store only its reference);
    False once the tower was trained or loaded from stored tensors.
    """

    def __init__(
        self,
        model: str = "ViT-L-14-quickgelu",
        pretrained: str | None = None,
        *,
        frozen: bool = True,
        weights_dir: str | os.PathLike | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.model_name = model
        self.pretrained = pretrained
        self.seed = int(seed)
        self.by_reference = True
        if resolve_pretrained(model, pretrained, weights_dir=weights_dir):
            self.model, self.tokenizer = load_open_clip(model, pretrained, text_only=True, weights_dir=weights_dir)
        else:
            with torch.random.fork_rng(devices=[]):  # random tower: a function of the seed, caller's RNG untouched
                torch.manual_seed(self.seed)
                self.model, self.tokenizer = load_open_clip(model, "random", text_only=True)
        self.dim = int(self.model.text_projection.shape[1])
        if frozen:
            self.requires_grad_(False)

    def spec(self) -> dict:
        """What rebuilds this tower: open_clip ``model``, ``pretrained`` (file or tag) and the random-init ``seed``."""
        return {"model": self.model_name, "pretrained": self.pretrained, "seed": self.seed}

    @property
    def device(self) -> torch.device:
        return self.model.positional_embedding.device

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.tokenizer(list(prompts)).to(self.device)

    def forward(self, prompts: Sequence[str]) -> torch.Tensor:
        """Prompts -> [B, dim] unit-norm features (no autograd graph when every weight is frozen)."""
        trainable = any(p.requires_grad for p in self.parameters())
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            features = self.model.encode_text(self.tokenize(prompts))
        return features / features.norm(dim=-1, keepdim=True)
