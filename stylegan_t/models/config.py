"""Typed generator configuration (recipe section ``model.generator``) and the named presets of the paper.

Presets ``lite`` and ``full`` are the two model sizes of the paper (Table 1 and App. A: ~75M and ~1B
generator parameters at 64x64); channel numbers are those of the original release. Each dataclass checks
itself in ``validate()`` (called by ``__post_init__``) and names the dotted recipe key of a bad value.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from ..utils.validation import in_range, known_fields, non_negative, positive, power_of_two, require

#: Named synthesis settings. ``tiny`` is for tests and CPU demos, not from the paper.
GENERATOR_PRESETS: dict[str, dict[str, Any]] = {
    "lite": dict(channel_base=32768, channel_max=512, num_res_blocks=2),
    "full": dict(channel_base=65536, channel_max=2048, num_res_blocks=3),
    "tiny": dict(channel_base=1024, channel_max=64, num_res_blocks=1),
}
#: generator output sizes the synthesis network builds (blocks start at 8x8; the paper goes to 512)
MIN_RESOLUTION, MAX_RESOLUTION = 8, 1024


@dataclass
class TextEncoderConfig:
    """open_clip text tower: ``model`` name or ``local-dir:<folder>``; ``pretrained`` a local file, a tag
    resolved in the weights folder, or ``random`` (tests only). Paper Sec. 3.3: CLIP ViT-L/14.

    ``model=""`` means no text encoder: conditioning must then be given as a ``text_dim`` tensor.
    """

    model: str = "ViT-L-14-quickgelu"
    pretrained: Optional[str] = None
    text_dim: Optional[int] = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "model.generator.text_encoder") -> None:
        require(isinstance(self.model, str), f"{where}.model", f"must be a string, got {self.model!r}")
        if self.text_dim is not None:
            positive(self.text_dim, f"{where}.text_dim")
        if not self.model:
            require(self.text_dim is not None, f"{where}.text_dim", "must be set when text_encoder.model is empty")


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

    def __post_init__(self) -> None:
        if isinstance(self.text_encoder, dict):
            self.text_encoder = TextEncoderConfig(**known_fields(TextEncoderConfig, self.text_encoder, "model.generator.text_encoder"))
        self.validate()

    def validate(self, where: str = "model.generator") -> None:
        power_of_two(self.img_resolution, f"{where}.img_resolution", MIN_RESOLUTION, MAX_RESOLUTION)
        if self.preset is not None:
            require(self.preset in GENERATOR_PRESETS, f"{where}.preset",
                    f"must be one of {sorted(GENERATOR_PRESETS)} (or null with explicit channels), got {self.preset!r}")
        for key in ("channel_base", "channel_max", "num_res_blocks"):
            value = getattr(self, key)
            require(value is not None or self.preset is not None, f"{where}.{key}", "must be set when preset is null")
            if value is not None:
                positive(value, f"{where}.{key}")
        for key in ("z_dim", "img_channels", "mapping_layers", "gn_groups", "mapping_lr_multiplier"):
            positive(getattr(self, key), f"{where}.{key}")
        in_range(self.x_avg_beta, f"{where}.x_avg_beta", 0.0, 1.0)
        if self.conv_clamp is not None:
            positive(self.conv_clamp, f"{where}.conv_clamp")
        non_negative(self.layer_scale_init, f"{where}.layer_scale_init")
        non_negative(self.text_scale, f"{where}.text_scale")
        self.text_encoder.validate(f"{where}.text_encoder")

    def synthesis_settings(self) -> dict[str, int]:
        """channel_base / channel_max / num_res_blocks: the preset's, overridden by explicit values."""
        self.validate()
        base = dict(GENERATOR_PRESETS[self.preset]) if self.preset else {}
        for key in ("channel_base", "channel_max", "num_res_blocks"):
            value = getattr(self, key)
            if value is not None:
                base[key] = value
        return base

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GeneratorConfig":
        """Strict: unknown keys raise :class:`RecipeError` with the list of valid ones."""
        return cls(**known_fields(cls, data, "model.generator"))
