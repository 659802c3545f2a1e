"""Import generators trained with the original StyleGAN-T code (its ``state_dict()``)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..models.config import GeneratorConfig, TextEncoderConfig
from ..models.generator import Generator
from ..models.synthesis import RESAMPLE_TAPS
from ..models.text_encoder import TextEncoder
from ..nn.upfirdn import setup_filter
from ..persistence.strict import load_state_strict

#: (original prefix or infix, ours), applied in order.
_RENAMES = (
    ("mapping.clip.model.", "mapping.text_encoder.model."),
    (".convs1.", ".convs."),
)


def rename_official_generator_key(key: str) -> str:
    for old, new in _RENAMES:
        key = key.replace(old, new)
    return key


def generator_from_official(
    state_dict: Mapping[str, torch.Tensor],
    *,
    img_resolution: int,
    channel_base: int,
    channel_max: int,
    num_res_blocks: int,
    text_encoder: str | TextEncoderConfig | TextEncoder,
    z_dim: int = 64,
    **settings: Any,
) -> Generator:
    """Build our :class:`Generator` from an original generator's ``state_dict()`` with identical outputs.

    ``text_encoder`` gives the text tower's architecture (open_clip name, ``local-dir:`` folder, config
    or instance); its weights are replaced by the checkpoint's ``mapping.clip.model.*`` tensors. ``settings``:
    further :class:`GeneratorConfig` fields (e.g. ``mapping_layers``, ``conv_clamp``) where they differ from ours.
    """
    if isinstance(text_encoder, str):
        text_encoder = TextEncoderConfig(model=text_encoder, pretrained="random")  # the checkpoint's weights replace it
    te_config = text_encoder if isinstance(text_encoder, TextEncoderConfig) else TextEncoderConfig(model=text_encoder.model_name)
    config = GeneratorConfig(
        img_resolution=img_resolution,
        preset=None,
        channel_base=channel_base,
        channel_max=channel_max,
        num_res_blocks=num_res_blocks,
        z_dim=z_dim,
        text_encoder=te_config,
        **settings,
    )
    generator = Generator(config, text_encoder=text_encoder if isinstance(text_encoder, TextEncoder) else None)
    expected_filter = setup_filter(RESAMPLE_TAPS)
    state: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.endswith("resample_filter"):
            # A constant in our modules: only check that the checkpoint used the same filter.
            if value.shape != expected_filter.shape or not torch.allclose(value.float(), expected_filter, atol=1e-3):
                raise ValueError(f"{key}: unsupported resampling filter (expected {list(RESAMPLE_TAPS)})")
            continue
        state[rename_official_generator_key(key)] = value
    load_state_strict(generator, state, source="official StyleGAN-T generator state dict")
    return generator
