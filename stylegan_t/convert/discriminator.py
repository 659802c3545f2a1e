"""Import the original StyleGAN-T ``ProjectedDiscriminator`` state dict (old-style spectral-norm keys).

Original layout per head ``heads.<tap>.``: ``main.0.0`` (SN conv k=1), ``main.0.1`` (local BN),
``main.1.fn.0`` (SN conv k=9), ``main.1.fn.1`` (local BN), ``cls`` (SN conv), ``cmapper`` (FC layer);
spectral norm stored as ``weight_orig`` / ``weight_u`` / ``weight_v``. The frozen DINO is under ``dino.``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from ..models.discriminator import (
    DEFAULT_DIFFAUG,
    DiscriminatorConfig,
    FeatureNetwork,
    FeatureNetworkConfig,
    ProjectedDiscriminator,
)
from ..models.discriminator.feature_networks import strip_prefixes
from ..nn.spectral import ORIGINAL_SN_KEYS, rename_legacy_spectral_key
from ..persistence.strict import StateMismatchError, load_state_strict

#: (original sub-module of a head, ours)
_HEAD_MODULES = (
    ("main.0.0.", "main.0.conv."),
    ("main.0.1.", "main.0.norm."),
    ("main.1.fn.0.", "main.1.fn.conv."),
    ("main.1.fn.1.", "main.1.fn.norm."),
    ("cls.", "cls."),
    ("cmapper.", "cmapper."),
)
_HEAD_KEY = re.compile(r"heads\.([^.]+)\.(.+)$")


def rename_official_head_key(key: str) -> str | None:
    """``heads.0.main.0.0.weight_u`` -> ``heads.0.main.0.conv.parametrizations.weight.0._u``; None if not a head key."""
    match = _HEAD_KEY.match(key)
    if not match:
        return None
    name, rest = match.groups()
    for theirs, ours in _HEAD_MODULES:
        if rest.startswith(theirs):
            return rename_legacy_spectral_key(f"heads.{name}.{ours}{rest[len(theirs):]}")
    return None


def official_head_key(key: str) -> str:
    """Inverse of :func:`rename_official_head_key` (our ``heads.*`` key -> the original's)."""
    for theirs, ours in ORIGINAL_SN_KEYS.items():
        if key.endswith("." + ours):
            key = key[: -len(ours)] + theirs
    match = _HEAD_KEY.match(key)
    if match:
        name, rest = match.groups()
        for theirs, ours in _HEAD_MODULES:
            if rest.startswith(ours):
                return f"heads.{name}.{theirs}{rest[len(ours):]}"
    return key


def discriminator_to_official(D: ProjectedDiscriminator, *, include_feature_network: bool = False) -> dict[str, torch.Tensor]:
    """Our discriminator's heads (and optionally ``dino.model.*`` backbone weights) in the original's layout."""
    state = {official_head_key(f"heads.{k}"): v.detach().clone() for k, v in D.heads.state_dict().items()}
    if include_feature_network:
        vit = getattr(D.feature_network, "vit", None)
        if vit is None:
            raise ValueError("only a ViT feature network maps onto the original's dino.* keys")
        state.update({f"dino.model.{k}": v.detach().clone() for k, v in vit.state_dict().items()})
    return state


def discriminator_from_official(
    state_dict: Mapping[str, torch.Tensor],
    *,
    c_dim: int,
    diffaug: bool | str = False,
    p_crop: float = 0.0,
    config: DiscriminatorConfig | dict[str, Any] | None = None,
    feature_network: FeatureNetwork | FeatureNetworkConfig | dict[str, Any] | None = None,
    **overrides: Any,
) -> ProjectedDiscriminator:
    """Our :class:`ProjectedDiscriminator` holding an original discriminator's weights (cast to float32).

    ``diffaug``: True = the paper's policy, or a policy string. ``dino.*`` keys (prefix ``dino.`` / ``dino.model.``
    stripped) become the feature network's weights; without them the feature network is ``feature_network``
    (a built one, or a config) or built from ``config`` (plus ``overrides``, DiscriminatorConfig fields). Unknown or missing keys raise
    :class:`StateMismatchError` listing them.
    """
    policy = diffaug if isinstance(diffaug, str) else (DEFAULT_DIFFAUG if diffaug else "")
    if feature_network is None and config is None and any(k.startswith("dino.") for k in state_dict):
        feature_network = {"weights": "random"}  # DINO ViT-S/16, its weights replaced by the checkpoint's dino.* keys
    D = ProjectedDiscriminator(c_dim, config, feature_network=feature_network, diffaug=policy, p_crop=p_crop, **overrides)

    heads: dict[str, torch.Tensor] = {}
    dino: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        if key.startswith("dino."):
            dino[key] = value
        elif (ours := rename_official_head_key(key)) is not None:
            heads[ours] = value.float() if value.is_floating_point() else value
        else:
            unknown.append(key)
    own = {f"heads.{k}" for k in D.heads.state_dict()}
    unknown += [official_head_key(k) for k in heads if k not in own]
    missing = [official_head_key(k) for k in own if k not in heads]
    if unknown or missing:
        raise StateMismatchError("official discriminator state dict", unexpected=sorted(unknown), missing=sorted(missing))
    prefix = len("heads.")
    load_state_strict(D.heads, {k[prefix:]: v for k, v in heads.items()}, source="official discriminator heads")
    if dino:
        backbone = strip_prefixes(dino, ("dino.", "model."))
        backbone = {k: v.float() if v.is_floating_point() else v for k, v in backbone.items()}
        D.feature_network.load_backbone_state_dict(backbone, source="the checkpoint's dino.* keys")
    return D
