"""Typed discriminator configuration (recipe section ``model.discriminator``) and named feature-network presets."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional

#: SPEC: DiffAugment policy of the projected discriminator
DEFAULT_DIFFAUG = "color,translation,cutout"


@dataclass
class FeatureNetworkConfig:
    """Mirrors ``ViTFeatureNetwork`` (``kind: vit``), ``OpenCLIPFeatureNetwork`` (``kind: open_clip``, ``model`` a
    CLIP name or ``local-dir:``, ``weights`` its pretrained file) and ``ConvFeatureNetwork`` (``kind: conv``).

    ``weights``: local checkpoint file (``.pth`` / ``.pt`` / ``.safetensors``); None = random init (tests, CPU demo).
    """

    kind: str = "vit"
    #: timm architecture (``kind: vit``); the SPEC network is DINO ViT-S/16
    model: str = "vit_small_patch16_224.dino"
    weights: Optional[str] = None
    #: transformer blocks tapped (0-based), then the patch-token tap after the position embedding
    taps: List[int] = field(default_factory=lambda: [2, 5, 8, 11])
    patch_tap: bool = True
    #: extra ``timm.create_model`` arguments, e.g. a tiny ViT for tests
    timm_kwargs: Dict[str, Any] = field(default_factory=dict)
    #: ``kind: conv``: stage widths, input size and the seed of its fixed random weights
    conv_widths: List[int] = field(default_factory=lambda: [32, 64, 128])
    input_size: int = 32
    seed: int = 0


@dataclass
class DiscriminatorConfig:
    """Mirrors ``ProjectedDiscriminator(c_dim, config, **overrides)``; plain dicts are accepted for sub-configs."""

    feature_network: FeatureNetworkConfig = field(default_factory=FeatureNetworkConfig)
    #: projection conditioning: ``cmap = EqLinear(c) -> [B, cmap_dim]``
    cmap_dim: int = 64
    #: kernel of the residual Conv1d of each head (circular padding)
    head_kernel_size: int = 9
    #: local batch norm group size
    group_size: int = 8
    #: DiffAugment policy applied in training mode ("" disables it)
    diffaug: str = DEFAULT_DIFFAUG
    #: probability of one random crop to the feature network's input size for larger images (training mode)
    p_crop: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.feature_network, dict):
            self.feature_network = FeatureNetworkConfig(**self.feature_network)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "DiscriminatorConfig":
        """From a plain dict (e.g. a checkpoint's stored config); unknown keys raise ``TypeError``."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise TypeError(f"unknown DiscriminatorConfig keys {unknown}; valid: {sorted(names)}")
        return cls(**copy.deepcopy(dict(data)))


#: named feature networks; ``vit-tiny*`` and ``conv-tiny`` are CPU-sized stand-ins for tests and demos
FEATURE_NETWORK_PRESETS: Dict[str, FeatureNetworkConfig] = {
    "dino-vits16": FeatureNetworkConfig(),
    "vit-tiny": FeatureNetworkConfig(
        model="vit_small_patch16_224",
        taps=[1, 3],
        timm_kwargs={"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 4, "num_heads": 2, "mlp_ratio": 2.0},
    ),
    # 384 channels and 5 taps like DINO ViT-S/16 (heads fit the original checkpoints), but 4 tokens and 4 blocks.
    "vit-tiny-384": FeatureNetworkConfig(
        model="vit_small_patch16_224",
        taps=[0, 1, 2, 3],
        timm_kwargs={"img_size": 32, "patch_size": 16, "embed_dim": 384, "depth": 4, "num_heads": 6, "mlp_ratio": 1.0},
    ),
    "conv-tiny": FeatureNetworkConfig(kind="conv", conv_widths=[8, 16], input_size=16),
}


def feature_network_preset(name: str, **overrides: Any) -> FeatureNetworkConfig:
    """A fresh copy of a named preset, with field overrides (e.g. ``weights=...``)."""
    if name not in FEATURE_NETWORK_PRESETS:
        raise KeyError(f"unknown feature network preset {name!r}; known: {sorted(FEATURE_NETWORK_PRESETS)}")
    config = copy.deepcopy(FEATURE_NETWORK_PRESETS[name])
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise TypeError(f"FeatureNetworkConfig has no field {key!r}")
        setattr(config, key, value)
    return config
