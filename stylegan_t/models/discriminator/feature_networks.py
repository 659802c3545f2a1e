"""Frozen feature networks for the projected discriminator (SPEC: "Feature network").

Contract: ``forward(images in [-1, 1]) -> {tap name: [B, C, N] token features}`` in a fixed tap order,
and ``channels`` mapping each tap name to C. Subclass :class:`FeatureNetwork` to try other backbones.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...utils.local_files import require_local_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DINO_HOW = (
    "Save the timm weights once on a connected machine, e.g. python -c \"import timm, torch; "
    "m = timm.create_model('vit_small_patch16_224.dino', pretrained=True); torch.save(m.state_dict(), 'dino_vits16.pth')\", "
    "copy the file here and set model.discriminator.feature_network.weights to its path (docs/discriminator.md)."
)


class FeatureNetwork(nn.Module):
    """Base class: frozen, always in eval mode, no gradients to its own weights."""

    #: tap name -> channels, in the order the discriminator concatenates logits
    channels: dict[str, int]

    def freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FeatureNetwork":
        return super().train(False)


def load_weights_file(path: str | os.PathLike, *, what: str, how: str) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file (weights only), with common wrappers unwrapped."""
    path = require_local_file(path, what=what, how=how)
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "teacher"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    prefixes = ("module.", "backbone.", "model.")
    return {next((k[len(p):] for p in prefixes if k.startswith(p)), k): v for k, v in state.items()}


class ViTFeatureNetwork(FeatureNetwork):
    """A timm ViT tapped after given blocks and after the position embedding (SPEC: DINO ViT-S/16).

    At each tap the class token is added to every patch token and dropped: ``[B, C, num_patches]``.
    Input: area resize of ``(x + 1) / 2`` to ``input_size``, ImageNet normalization.
    """

    def __init__(
        self,
        model: str = "vit_small_patch16_224.dino",
        weights: str | os.PathLike | None = None,
        *,
        taps: Sequence[int] = (2, 5, 8, 11),
        patch_tap: bool = True,
        timm_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        import timm

        # pretrained=False always: weights only ever come from the local file below.
        self.vit = timm.create_model(model, pretrained=False, num_classes=0, **(timm_kwargs or {}))
        if weights is not None:
            state = load_weights_file(weights, what=f"feature network '{model}'", how=DINO_HOW)
            state = {k: v for k, v in state.items() if not k.startswith("head.")}
            missing, unexpected = self.vit.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise ValueError(
                    f"feature network weights '{weights}' do not fit timm model '{model}': "
                    f"missing {sorted(missing)}, unexpected {sorted(unexpected)}"
                )
        if any(t >= len(self.vit.blocks) for t in taps):
            raise ValueError(f"taps {list(taps)} out of range for a ViT with {len(self.vit.blocks)} blocks")
        self.taps = list(taps)
        self.patch_tap = patch_tap
        self.input_size = self.vit.patch_embed.img_size[0]
        width = self.vit.embed_dim
        self.channels = {str(i): width for i in range(len(self.taps))}
        if patch_tap:
            self.channels[str(len(self.taps))] = width
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        self.freeze()

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1) / 2
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="area")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def tokens(self, h: torch.Tensor) -> torch.Tensor:
        """Class token added to every patch token, prefix tokens dropped, channels first."""
        prefix = self.vit.num_prefix_tokens
        return (h[:, prefix:] + h[:, :1]).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.vit.patch_embed(self.preprocess(x))
        h = self.vit._pos_embed(h)
        h = self.vit.norm_pre(self.vit.patch_drop(h))
        features: dict[str, torch.Tensor] = {}
        if self.patch_tap:
            features[str(len(self.taps))] = self.tokens(h)
        for index, block in enumerate(self.vit.blocks[: max(self.taps) + 1]):
            h = block(h)
            if index in self.taps:
                features[str(self.taps.index(index))] = self.tokens(h)
        return {name: features[name] for name in self.channels}  # tap order: blocks, then patch tokens


class ConvFeatureNetwork(FeatureNetwork):
    """A small frozen CNN whose stage outputs are flattened into tokens: a CPU-friendly stand-in for a ViT.

    Weights come from ``weights`` (a state dict file) or a seeded random initialisation.
    """

    def __init__(self, *, widths: Sequence[int] = (32, 64, 128), input_size: int = 32, weights: str | None = None, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        stages, in_ch = [], 3
        for width in widths:
            conv1, conv2 = nn.Conv2d(in_ch, width, 3, padding=1), nn.Conv2d(width, width, 3, stride=2, padding=1)
            for conv in (conv1, conv2):
                nn.init.kaiming_normal_(conv.weight, generator=gen, nonlinearity="leaky_relu")
                nn.init.zeros_(conv.bias)
            stages.append(nn.Sequential(conv1, nn.LeakyReLU(0.2), conv2, nn.LeakyReLU(0.2)))
            in_ch = width
        self.stages = nn.ModuleList(stages)
        self.input_size = input_size
        self.channels = {str(i): w for i, w in enumerate(widths)}
        if weights is not None:
            self.load_state_dict(load_weights_file(weights, what="conv feature network", how="Pass the path of a saved state dict."))
        self.freeze()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.shape[-1] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="area")
        features = {}
        for name, stage in zip(self.channels, self.stages):
            x = stage(x)
            features[name] = x.flatten(2)
        return features
