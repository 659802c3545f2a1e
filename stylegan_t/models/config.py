"""Typed generator configuration and named presets (SPEC: presets ``lite`` and ``full``)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

#: Named synthesis settings. ``tiny`` is for tests and CPU demos, not from the paper.
GENERATOR_PRESETS: dict[str, dict[str, Any]] = {
    "lite": dict(channel_base=32768, channel_max=512, num_res_blocks=2),
    "full": dict(channel_base=65536, channel_max=2048, num_res_blocks=3),
    "tiny": dict(channel_base=1024, channel_max=64, num_res_blocks=1),
}


@dataclass
class TextEncoderConfig:
    """open_clip text tower: ``model`` name or ``local-dir:<folder>``; ``pretrained`` a local file/tag.

    ``model=""`` means no text encoder: conditioning must then be given as a ``text_dim`` tensor.
    """

    model: str = "ViT-L-14-quickgelu"
    pretrained: Optional[str] = None
    text_dim: Optional[int] = None


@dataclass
class GeneratorConfig:
    """Everything needed to rebuild a :class:`~stylegan_t.models.generator.Generator` (stored in checkpoints)."""

    img_resolution: int = 64
    preset: Optional[str] = "lite"
    channel_base: Optional[int] = None
    channel_max: Optional[int] = None
    num_res_blocks: Optional[int] = None
    z_dim: int = 64
    img_channels: int = 3
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    x_avg_beta: float = 0.995
    conv_clamp: Optional[float] = 256.0
    gn_groups: int = 32
    layer_scale_init: float = 1e-5
    #: factor on the (unit-norm) text features inside ``w``; 1 in the paper. The z part of ``w`` has norm
    #: ~sqrt(z_dim), so a larger factor lets short runs (the CPU demo) follow the caption sooner.
    text_scale: float = 1.0
    text_encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)

    def synthesis_settings(self) -> dict[str, int]:
        """channel_base / channel_max / num_res_blocks: the preset's, overridden by explicit values."""
        base = dict(GENERATOR_PRESETS[self.preset]) if self.preset else {}
        if self.preset and self.preset not in GENERATOR_PRESETS:
            raise ValueError(f"unknown generator preset {self.preset!r}; known: {sorted(GENERATOR_PRESETS)}")
        for key in ("channel_base", "channel_max", "num_res_blocks"):
            value = getattr(self, key)
            if value is not None:
                base[key] = value
            elif key not in base:
                raise ValueError(f"GeneratorConfig.{key} must be set when preset is None")
        return base

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GeneratorConfig":
        """Strict: unknown keys raise with the list of valid ones."""
        data = dict(data)
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - valid
        if unknown:
            raise ValueError(f"unknown GeneratorConfig keys {sorted(unknown)}; valid keys: {sorted(valid)}")
        te = data.get("text_encoder")
        if isinstance(te, dict):
            te_valid = {f.name for f in dataclasses.fields(TextEncoderConfig)}
            if set(te) - te_valid:
                raise ValueError(f"unknown text_encoder keys {sorted(set(te) - te_valid)}; valid keys: {sorted(te_valid)}")
            data["text_encoder"] = TextEncoderConfig(**te)
        return cls(**data)
