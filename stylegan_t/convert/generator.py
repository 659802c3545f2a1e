"""Import generators trained with the original StyleGAN-T code (its ``state_dict()``)."""
from __future__ import annotations

from collections.abc import Mapping

import torch

from ..models.config import GeneratorConfig, TextEncoderConfig
from ..models.generator import Generator
from ..models.synthesis import RESAMPLE_TAPS
from ..models.text_encoder import TextEncoder
from ..nn.upfirdn import setup_filter

#: (original prefix or infix, ours), applied in order.
_RENAMES = (
    ("mapping.clip.model.", "mapping.text_encoder.model."),
    (".convs1.", ".convs."),
)


class CheckpointMismatchError(KeyError):
    """A state dict does not fit the model: lists the unexpected and missing keys."""

    def __init__(self, what: str, *, unexpected: list[str], missing: list[str]) -> None:
        lines = [f"{what} does not match the model."]
        if unexpected:
            lines.append(f"Unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
        if missing:
            lines.append(f"Missing keys ({len(missing)}): {', '.join(missing)}")
        super().__init__("\n".join(lines))
        self.unexpected = unexpected
        self.missing = missing

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def rename_official_generator_key(key: str) -> str:
    for old, new in _RENAMES:
        key = key.replace(old, new)
    return key


def load_state_dict_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], *, what: str) -> None:
    """``load_state_dict`` that raises :class:`CheckpointMismatchError` listing every bad key, and casts dtypes."""
    own = module.state_dict()
    # The original stores some parameters as scalars where we keep shape [1] (FSDP2 cannot shard scalars).
    state = {k: v.reshape(own[k].shape) if k in own and v.ndim == 0 and own[k].numel() == 1 else v for k, v in state.items()}
    unexpected = sorted(set(state) - set(own))
    missing = sorted(set(own) - set(state))
    if unexpected or missing:
        raise CheckpointMismatchError(what, unexpected=unexpected, missing=missing)
    bad_shapes = [f"{k}: checkpoint {list(v.shape)} vs model {list(own[k].shape)}" for k, v in state.items() if v.shape != own[k].shape]
    if bad_shapes:
        raise ValueError(f"{what}: tensor shapes differ:\n" + "\n".join(bad_shapes))
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def generator_from_official(
    state_dict: Mapping[str, torch.Tensor],
    *,
    img_resolution: int,
    channel_base: int,
    channel_max: int,
    num_res_blocks: int,
    text_encoder: str | TextEncoderConfig | TextEncoder,
    z_dim: int = 64,
) -> Generator:
    """Build our :class:`Generator` from an original generator's ``state_dict()`` with identical outputs.

    ``text_encoder`` gives the text tower's architecture (open_clip name, ``local-dir:`` folder, config
    or instance); its weights are replaced by the checkpoint's ``mapping.clip.model.*`` tensors.
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
    load_state_dict_strict(generator, state, what="official StyleGAN-T generator state dict")
    return generator
