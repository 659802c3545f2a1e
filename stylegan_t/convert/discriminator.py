"""Import the original StyleGAN-T ``ProjectedDiscriminator`` state dict (old-style spectral-norm keys)."""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ..models.discriminator import DiscriminatorConfig, FeatureNetwork, ProjectedDiscriminator
from .generator import load_state_dict_strict

_SN = {
    "weight_orig": "parametrizations.weight.original",
    "weight_u": "parametrizations.weight.0._u",
    "weight_v": "parametrizations.weight.0._v",
}
# (original sub-module path inside a head, ours)
_HEAD_MODULES = (
    (r"main\.0\.0\.", "main.0.conv."),
    (r"main\.0\.1\.", "main.0.norm."),
    (r"main\.1\.fn\.0\.", "main.1.fn.conv."),
    (r"main\.1\.fn\.1\.", "main.1.fn.norm."),
    (r"cls\.", "cls."),
    (r"cmapper\.", "cmapper."),
)


def rename_official_head_key(key: str) -> str:
    """``heads.0.main.0.0.weight_u`` -> ``heads.0.main.0.conv.parametrizations.weight.0._u``."""
    match = re.match(r"heads\.(\w+)\.(.*)$", key)
    if not match:
        return key
    name, rest = match.groups()
    for pattern, ours in _HEAD_MODULES:
        if re.match(pattern, rest):
            rest = ours + rest[len(re.match(pattern, rest).group(0)):]
            break
    leaf = rest.rsplit(".", 1)
    if len(leaf) == 2 and leaf[1] in _SN:
        rest = f"{leaf[0]}.{_SN[leaf[1]]}"
    return f"heads.{name}.{rest}"


def discriminator_from_official(
    state_dict: Mapping[str, torch.Tensor],
    *,
    c_dim: int,
    diffaug: bool = False,
    p_crop: float = 0.0,
    config: DiscriminatorConfig | None = None,
    feature_network: FeatureNetwork | None = None,
) -> ProjectedDiscriminator:
    """Our :class:`ProjectedDiscriminator` with the original heads' weights (and DINO's, if ``dino.*`` keys exist).

    Without ``dino.*`` keys the feature network is built from ``config`` (or taken from ``feature_network``).
    """
    config = config or DiscriminatorConfig()
    config.diffaug = "color,translation,cutout" if diffaug else ""
    config.p_crop = p_crop
    D = ProjectedDiscriminator(c_dim, config, feature_network=feature_network)
    heads = {rename_official_head_key(k): v for k, v in state_dict.items() if k.startswith("heads.")}
    dino = {k.split(".", 1)[1]: v for k, v in state_dict.items() if k.startswith("dino.")}
    other = sorted(k for k in state_dict if not k.startswith(("heads.", "dino.")))
    if other:
        raise KeyError(f"unexpected keys in the discriminator state dict: {', '.join(other)}")
    own_heads = {k: v for k, v in D.state_dict().items() if k.startswith("heads.")}
    unexpected, missing = sorted(set(heads) - set(own_heads)), sorted(set(own_heads) - set(heads))
    if unexpected or missing:
        from .generator import CheckpointMismatchError

        raise CheckpointMismatchError("official discriminator heads", unexpected=unexpected, missing=missing)
    load_state_dict_strict(D.heads, {k[len("heads."):]: v for k, v in heads.items()}, what="official discriminator heads")
    if dino:
        vit = getattr(D.feature_network, "vit", None)
        if vit is None:
            raise ValueError("the checkpoint has dino.* weights but the feature network is not a ViT")
        dino = {k[len("model."):] if k.startswith("model.") else k: v for k, v in dino.items()}
        dino = {k: v for k, v in dino.items() if not k.startswith("head.")}
        load_state_dict_strict(vit, dino, what="official DINO feature network")
    return D
