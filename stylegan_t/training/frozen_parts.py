"""Which of a training module's networks are frozen and stored by reference (:mod:`stylegan_t.persistence.frozen`).

The text encoder (paper Sec. 3.3: frozen CLIP, unless the text-encoder phase trains it), the discriminator's
feature network when it was built from the recipe (Sec. 3.2: DINO) and the guidance CLIP (Sec. 3.3) are rebuilt
from their spec on load; checkpoints name them by file and tensor checksum instead of holding their weights.
"""
from __future__ import annotations

from typing import Any

import torch

from ..persistence.training_layout import PARTS


def frozen_training_networks(module: Any) -> dict[str, tuple[torch.nn.Module, dict[str, Any]]]:
    """``{state-dict prefix: (network, spec)}`` for a :class:`~stylegan_t.training.StyleGANT` (or a subclass with
    its ``generator``, ``generator_ema``, ``discriminator``, ``clip_guidance`` and ``recipe``)."""
    out: dict[str, tuple[torch.nn.Module, dict[str, Any]]] = {}
    te = module.generator.text_encoder
    if te is not None and te.by_reference and module.recipe.model.train_mode != "text_encoder":
        spec = {"network": "text_encoder", **te.spec()}
        out[PARTS.of("generator", "text_encoder")] = (te, spec)
        if module.generator_ema.module.mapping.text_encoder is te:
            out[PARTS.of("generator_ema", "text_encoder")] = (te, spec)
    spec_of = getattr(module.discriminator, "feature_network_spec", None)
    spec = spec_of() if callable(spec_of) else None
    if spec is not None:  # a backbone built from the config; one a subclass builds itself is stored by value
        out[PARTS.of("discriminator", "feature_network")] = (module.discriminator.feature_network, spec)
    if module.clip_guidance is not None:
        loss = module.recipe.loss
        spec = {"network": "clip_guidance", "model": loss.clip_model, "pretrained": loss.clip_pretrained}
        out[PARTS.clip_guidance] = (module.clip_guidance, spec)
    return out
