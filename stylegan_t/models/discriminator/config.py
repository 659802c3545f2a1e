"""Typed discriminator configuration (recipe section ``model.discriminator``) and named feature-network presets.

Each dataclass checks itself in ``validate()`` (called by ``__post_init__``), naming the dotted recipe key.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ...errors import RecipeError
from ...utils.text import comma_items
from ...utils.validation import in_range, known_fields, one_of, positive, require

#: DiffAugment policy of the projected discriminator (paper Sec. 3.2, as in Projected GANs)
DEFAULT_DIFFAUG = "color,translation,cutout"
#: the ``kind`` values :func:`~stylegan_t.models.discriminator.build_feature_network` builds
FEATURE_NETWORK_KINDS = ("vit", "open_clip", "conv")


@dataclass
class FeatureNetworkConfig:
    """Mirrors ``ViTFeatureNetwork`` (``kind: vit``), ``OpenCLIPFeatureNetwork`` (``kind: open_clip``, ``model`` a
    CLIP name or ``local-dir:``, ``weights`` its pretrained file) and ``ConvFeatureNetwork`` (``kind: conv``).

    ``weights``: a local checkpoint file (``.pth`` / ``.pt`` / ``.safetensors``), the tag ``dino`` (the paper's
    DINO ViT-S/16 at ``<weights folder>/dino_vits16.pth``, docs/weights.md), or ``random`` (an untrained network,
    tests and smoke runs only). Unset is an error when the network is built: never random by omission.
    """

    kind: str = "vit"
    #: timm architecture (``kind: vit``); the paper's network is DINO ViT-S/16 (Sec. 3.2)
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

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "model.discriminator.feature_network") -> None:
        one_of(self.kind, f"{where}.kind", FEATURE_NETWORK_KINDS)
        require(isinstance(self.model, str) and bool(self.model), f"{where}.model", f"must name a network, got {self.model!r}")
        taps = list(self.taps)
        ok = all(isinstance(t, int) and t >= 0 for t in taps) and len(set(taps)) == len(taps)
        require(ok and (taps or self.patch_tap), f"{where}.taps", f"must be distinct block indices >= 0 (or patch_tap true), got {taps}")
        require(bool(self.conv_widths) and all(isinstance(w, int) and w > 0 for w in self.conv_widths),
                f"{where}.conv_widths", f"must be positive integers, got {list(self.conv_widths)}")
        positive(self.input_size, f"{where}.input_size")


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
    #: not in the paper: a second frozen network whose taps get heads too (e.g. a CLIP's ResNet image tower, which
    #: reads shape, beside its ViT tower, which keeps images real: docs/own-data.md); None: one network
    extra_feature_network: Optional[FeatureNetworkConfig] = None

    def __post_init__(self) -> None:
        for key in ("feature_network", "extra_feature_network"):
            value, where = getattr(self, key), f"model.discriminator.{key}"
            if isinstance(value, dict):
                try:
                    setattr(self, key, FeatureNetworkConfig(**known_fields(FeatureNetworkConfig, value, where)))
                except RecipeError as err:  # its own check names the first network's key
                    raise RecipeError(str(err).replace("model.discriminator.feature_network", where, 1)) from None
        self.validate()

    def feature_networks(self, where: str = "model.discriminator") -> Dict[str, FeatureNetworkConfig]:
        """``{recipe key: config}`` of every frozen network D builds, the first one first."""
        out = {f"{where}.feature_network": self.feature_network}
        if self.extra_feature_network is not None:
            out[f"{where}.extra_feature_network"] = self.extra_feature_network
        return out

    def validate(self, where: str = "model.discriminator") -> None:
        from ...augment import POLICIES

        for key in ("cmap_dim", "head_kernel_size", "group_size"):
            positive(getattr(self, key), f"{where}.{key}")
        bad = [n for n in comma_items(str(self.diffaug)) if n not in POLICIES]
        require(not bad, f"{where}.diffaug", f"has unknown policies {bad}; valid: {sorted(POLICIES)}")
        in_range(self.p_crop, f"{where}.p_crop", 0.0, 1.0)
        for key, network in self.feature_networks(where).items():
            require(isinstance(network, FeatureNetworkConfig), key, f"must be a mapping of feature-network keys, got {network!r}")
            network.validate(key)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "DiscriminatorConfig":
        """From a plain dict (e.g. a checkpoint's stored config); unknown keys raise :class:`RecipeError`."""
        return cls(**copy.deepcopy(known_fields(cls, dict(data), "model.discriminator")))


#: named feature networks: ``dino-vits16`` is the paper's (weights by tag); the others are CPU-sized random stand-ins
FEATURE_NETWORK_PRESETS: Dict[str, FeatureNetworkConfig] = {
    "dino-vits16": FeatureNetworkConfig(weights="dino"),
    "vit-tiny": FeatureNetworkConfig(
        model="vit_small_patch16_224",
        weights="random",
        taps=[1, 3],
        timm_kwargs={"img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 4, "num_heads": 2, "mlp_ratio": 2.0},
    ),
    # 384 channels and 5 taps like DINO ViT-S/16 (heads fit the original checkpoints), but 4 tokens and 4 blocks.
    "vit-tiny-384": FeatureNetworkConfig(
        model="vit_small_patch16_224",
        weights="random",
        taps=[0, 1, 2, 3],
        timm_kwargs={"img_size": 32, "patch_size": 16, "embed_dim": 384, "depth": 4, "num_heads": 6, "mlp_ratio": 1.0},
    ),
    "conv-tiny": FeatureNetworkConfig(kind="conv", weights="random", conv_widths=[8, 16], input_size=16),
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
    config.validate()
    return config
