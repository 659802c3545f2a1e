"""Typed discriminator configuration (recipe section ``model.discriminator``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class FeatureNetworkConfig:
    """``kind``: ``vit`` (timm ViT, SPEC's DINO ViT-S/16) or ``conv`` (small CNN for CPU runs).

    ``weights``: local checkpoint file; None = random initialisation (tests, the CPU demo).
    ``timm_kwargs``: extra timm arguments, e.g. a tiny ViT: {img_size: 32, patch_size: 4, embed_dim: 64, depth: 4, num_heads: 2}.
    """

    kind: str = "vit"
    model: str = "vit_small_patch16_224.dino"
    weights: Optional[str] = None
    taps: List[int] = field(default_factory=lambda: [2, 5, 8, 11])
    patch_tap: bool = True
    timm_kwargs: Dict[str, Any] = field(default_factory=dict)
    conv_widths: List[int] = field(default_factory=lambda: [32, 64, 128])
    input_size: int = 32
    seed: int = 0


@dataclass
class DiscriminatorConfig:
    feature_network: FeatureNetworkConfig = field(default_factory=FeatureNetworkConfig)
    cmap_dim: int = 64
    head_kernel_size: int = 9
    #: local batch norm group size
    group_size: int = 8
    #: DiffAugment policy applied in training mode ("" disables it)
    diffaug: str = "color,translation,cutout"
    #: probability of a random crop to the feature network's input size for larger images
    p_crop: float = 0.5
