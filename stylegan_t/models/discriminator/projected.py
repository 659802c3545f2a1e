"""The projected discriminator (SPEC: "Discriminator (projected)"), built to be subclassed.

``forward(x, c)`` = ``combine_logits(run_heads(extract_features(augment(x)), c))``; each step, and the
construction of the feature network and heads, is an ordinary method to override (docs/extending.md).
"""
from __future__ import annotations

import torch
from torch import nn

from ...augment import DiffAugment, random_crop
from .config import DiscriminatorConfig
from .feature_networks import ConvFeatureNetwork, FeatureNetwork, ViTFeatureNetwork
from .heads import DiscHead


class ProjectedDiscriminator(nn.Module):
    """Frozen feature network + one trainable head per tap; ``D(x, c) -> logits [B, N]`` for x in [-1, 1].

    Pass ``feature_network`` to use an already built one instead of ``config.feature_network``.
    """

    def __init__(self, c_dim: int, config: DiscriminatorConfig | None = None, *, feature_network: FeatureNetwork | None = None) -> None:
        super().__init__()
        self.c_dim = c_dim
        self.config = config or DiscriminatorConfig()
        self.feature_network = feature_network if feature_network is not None else self.build_feature_network()
        self.heads = nn.ModuleDict({name: self.build_head(name, ch) for name, ch in self.feature_network.channels.items()})
        self.augment_pipe = self.build_augment()

    # --- extension points --------------------------------------------------------------------------

    def build_feature_network(self) -> FeatureNetwork:
        fn = self.config.feature_network
        if fn.kind == "vit":
            return ViTFeatureNetwork(fn.model, fn.weights, taps=fn.taps, patch_tap=fn.patch_tap, timm_kwargs=fn.timm_kwargs)
        if fn.kind == "conv":
            return ConvFeatureNetwork(widths=fn.conv_widths, input_size=fn.input_size, weights=fn.weights, seed=fn.seed)
        raise ValueError(f"unknown feature network kind {fn.kind!r}; expected 'vit' or 'conv' (or override build_feature_network)")

    def build_head(self, name: str, channels: int) -> nn.Module:
        cfg = self.config
        return DiscHead(channels, self.c_dim, cmap_dim=cfg.cmap_dim, kernel_size=cfg.head_kernel_size, group_size=cfg.group_size)

    def build_augment(self) -> nn.Module:
        return DiffAugment(self.config.diffaug) if self.config.diffaug else nn.Identity()

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """DiffAugment, then a random crop to the feature network's input size (training mode only)."""
        if not self.training:
            return x
        x = self.augment_pipe(x)
        size = getattr(self.feature_network, "input_size", None)
        return random_crop(x, size, p=self.config.p_crop) if size and self.config.p_crop > 0 else x

    def extract_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.feature_network(x)

    def run_heads(self, features: dict[str, torch.Tensor], c: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return {name: head(features[name], c) for name, head in self.heads.items()}

    def combine_logits(self, logits: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate per-head logits in tap order: ``[B, sum of tokens]``."""
        return torch.cat([logits[name].reshape(logits[name].shape[0], -1) for name in self.heads], dim=1)

    # --- forward ------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.combine_logits(self.run_heads(self.extract_features(self.augment(x)), c))
