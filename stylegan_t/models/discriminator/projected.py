"""The projected discriminator (paper Sec. 3.2), built to be subclassed.

``forward(x, c) = combine_logits(run_heads(extract_features(augment(x)), c))``; each step, and the
construction of the feature network, heads and augmentation, is an ordinary method to override
(docs/extending.md). No hooks and no module-level state: discriminators in one process are independent.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...augment import DiffAugment, random_crop
from ...errors import RecipeError, UserError
from .config import DiscriminatorConfig, FeatureNetworkConfig
from .feature_networks import FeatureNetwork, StackedFeatureNetwork, build_feature_network
from .heads import DiscHead


class ProjectedDiscriminator(nn.Module):
    """Frozen feature network + one trainable head per tap: ``D(x, c) -> logits [B, N]`` for ``x`` in [-1, 1].

    ``config`` (a :class:`DiscriminatorConfig` or dict) is copied, then ``overrides`` (its field names) are
    applied. ``feature_network``: a built :class:`FeatureNetwork` to use as is, or a
    :class:`FeatureNetworkConfig` / dict overriding ``config.feature_network``.
    """

    def __init__(
        self,
        c_dim: int,
        config: DiscriminatorConfig | dict[str, Any] | None = None,
        *,
        feature_network: FeatureNetwork | FeatureNetworkConfig | dict[str, Any] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = DiscriminatorConfig.from_dict(config)
        if isinstance(feature_network, (FeatureNetworkConfig, dict)):
            overrides["feature_network"], feature_network = feature_network, None
        self.config = dataclasses.replace(config or DiscriminatorConfig(), **overrides)
        self.c_dim = c_dim
        # a backbone built from config.feature_network is stored by reference; any other one by value
        self._backbone_from_config = (
            feature_network is None and type(self).build_feature_network is ProjectedDiscriminator.build_feature_network
        )
        self.feature_network = feature_network if feature_network is not None else self.build_feature_network()
        self.heads = nn.ModuleDict({name: self.build_head(name, ch) for name, ch in self.head_channels().items()})
        self.augment_pipe = self.build_augment()

    # --- construction (extension points) ------------------------------------------------------------

    def build_feature_network(self) -> FeatureNetwork:
        """The frozen backbone; default: ``config.feature_network`` (a timm ViT, a CLIP image tower or a small CNN),
        beside ``config.extra_feature_network`` when one is set."""
        networks = []
        for key, config in self.config.feature_networks().items():
            try:
                networks.append(build_feature_network(config))
            except UserError:
                raise
            except ValueError as err:  # e.g. taps the network does not have: one line naming the recipe key
                raise RecipeError(f"{key}: {err}") from None
        return networks[0] if len(networks) == 1 else StackedFeatureNetwork(*networks)

    def head_channels(self) -> dict[str, int]:
        """``{head name: channels}`` in logit order; default: one head per feature-network tap."""
        return dict(self.feature_network.channels)

    def build_head(self, name: str, channels: int) -> nn.Module:
        """The trainable head of tap ``name``: ``head(tokens [B, C, N], c) -> [B, N]``."""
        cfg = self.config
        return DiscHead(channels, self.c_dim, cmap_dim=cfg.cmap_dim, kernel_size=cfg.head_kernel_size, group_size=cfg.group_size)

    def build_augment(self) -> nn.Module:
        """Differentiable augmentation applied in training mode; default ``DiffAugment(config.diffaug)``."""
        return DiffAugment(self.config.diffaug) if self.config.diffaug else nn.Identity()

    def feature_network_spec(self) -> dict[str, Any] | None:
        """What rebuilds the frozen backbone (its config, for files and checkpoints to store it by reference), or
        None for a backbone built otherwise (a subclass's own, one passed in, or two networks): stored by value."""
        if not self._backbone_from_config or self.config.extra_feature_network is not None:
            return None  # two networks have no single reference: stored by value
        return {"network": "feature_network", **dataclasses.asdict(self.config.feature_network)}

    # --- files --------------------------------------------------------------------------------------

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """``folder/config.json`` + ``folder/model.safetensors``: the trained heads by value, a backbone built from
        the config by reference (its weights file and checksum), like :meth:`Generator.save_pretrained`."""
        from ...persistence.discriminator_files import write_discriminator

        return write_discriminator(folder, self)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, *, device: str | torch.device = "cpu") -> "ProjectedDiscriminator":
        """The eval-mode discriminator of a :meth:`save_pretrained` folder, built as this class (a subclass's folder
        is read with that subclass: ``MyD.from_pretrained(folder)``)."""
        from ...persistence.discriminator_files import read_discriminator

        return read_discriminator(folder, cls, device=device)

    # --- forward steps (extension points) -----------------------------------------------------------

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Training mode only: ``augment_pipe``, then with probability ``p_crop`` one random crop to the
        feature network's input size when the images are larger (paper Sec. 3.2: random 224x224 crops)."""
        if not self.training:
            return x
        x = self.augment_pipe(x)
        size = self.feature_network.input_size
        if size is not None and self.config.p_crop > 0:
            x = random_crop(x, size, p=self.config.p_crop)
        return x

    def extract_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{tap name: [B, C, N]}`` from the frozen feature network."""
        return self.feature_network(x)

    def run_heads(self, features: dict[str, torch.Tensor], c: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One ``[B, N]`` logit map per head, keyed like the heads."""
        return {name: head(features[name], c) for name, head in self.heads.items()}

    def combine_logits(self, logits: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate per-head logits in head (tap) order: ``[B, sum of tokens]``."""
        return torch.cat([logits[name].reshape(logits[name].shape[0], -1) for name in self.heads], dim=1)

    def logits_from_features(self, features: dict[str, torch.Tensor], c: torch.Tensor | None) -> torch.Tensor:
        """Heads and combination only (e.g. on precomputed features)."""
        return self.combine_logits(self.run_heads(features, c))

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits_from_features(self.extract_features(self.augment(x)), c)

    def logits_under_conditions(self, x: torch.Tensor, conditions: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``[D(x, c) for c in conditions]`` on one augmentation of ``x``: the features are extracted once and,
        with the default heads and ``run_heads``, each head's convolutions run once and only the projection
        repeats. The training step scores real images under their own and a wrong caption this way. A subclass
        that overrides ``run_heads`` keeps its behaviour: its heads then run once per conditioning."""
        features = self.extract_features(self.augment(x))
        shared = type(self).run_heads is ProjectedDiscriminator.run_heads and all(
            isinstance(head, DiscHead) for head in self.heads.values()
        )
        if not shared:
            return [self.logits_from_features(features, c) for c in conditions]
        per_head = {name: head(features[name], list(conditions)) for name, head in self.heads.items()}
        return [self.combine_logits({name: logits[k] for name, logits in per_head.items()}) for k in range(len(conditions))]
