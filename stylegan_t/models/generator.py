"""The StyleGAN-T generator: ``G(z, c) = synthesis(mapping(z, c))`` (paper Sec. 3.1)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from .config import GeneratorConfig
from .mapping import Conditioning, MappingNetwork
from .synthesis import SynthesisNetwork
from .text_encoder import TextEncoder

#: the parameter sets :meth:`Generator.trainable_parameters` knows: ``all`` (synthesis + mapping MLP), the text
#: encoder's (paper Sec. 3.3), or ``freeze64``: blocks above 64x64 and every ToRGB (paper Sec. 4, higher resolutions)
TRAIN_MODES = ("all", "text_encoder", "freeze64")


def build_text_encoder(config: GeneratorConfig, *, seed: int = 0) -> TextEncoder | None:
    """The text encoder named by ``config.text_encoder`` (None when ``model`` is empty); ``seed`` for random towers."""
    te = config.text_encoder
    return TextEncoder(te.model, te.pretrained, seed=seed) if te.model else None


class Generator(nn.Module):
    """Text-conditioned generator with ``mapping`` and ``synthesis`` submodules.

    Attributes ``z_dim``, ``c_dim`` (text feature size), ``w_dim``, ``num_ws``, ``img_resolution``.
    Pass ``text_encoder`` to reuse an already loaded one instead of building it from the config.
    """

    def __init__(self, config: GeneratorConfig | None = None, *, text_encoder: TextEncoder | None = None) -> None:
        super().__init__()
        self.config = config = config or GeneratorConfig()
        if text_encoder is None:
            text_encoder = build_text_encoder(config)
        synth = config.synthesis_settings()
        self.z_dim = config.z_dim
        self.c_dim = text_encoder.dim if text_encoder is not None else int(config.text_encoder.text_dim or 0)
        self.w_dim = self.z_dim + self.c_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.synthesis = SynthesisNetwork(
            w_dim=self.w_dim,
            img_resolution=config.img_resolution,
            img_channels=config.img_channels,
            conv_clamp=config.conv_clamp,
            gn_groups=config.gn_groups,
            layer_scale_init=config.layer_scale_init,
            **synth,
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=config.z_dim,
            num_ws=self.num_ws,
            num_layers=config.mapping_layers,
            lr_multiplier=config.mapping_lr_multiplier,
            x_avg_beta=config.x_avg_beta,
            text_scale=config.text_scale,
            text_encoder=text_encoder,
            text_dim=self.c_dim,
        )

    @property
    def text_encoder(self) -> TextEncoder | None:
        return self.mapping.text_encoder

    def forward(
        self,
        z: torch.Tensor,
        c: Conditioning,
        *,
        truncation_psi: float = 1.0,
        noise_mode: str = "random",
        update_emas: bool | None = None,
        fused_modconv: bool | None = None,
    ) -> torch.Tensor:
        """``z`` [B, z_dim] and prompts (or [B, c_dim] features) -> images [B, C, R, R] in about [-1, 1]."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)

    # --- train modes (paper Sec. 3.3 text-encoder phase; Sec. 4 progressive growing) ---

    def trainable_parameters(self, mode: str = "all") -> Iterator[nn.Parameter]:
        """Parameters that train in ``mode``: ``all`` (synthesis + mapping MLP), ``text_encoder``,
        ``freeze64`` (synthesis blocks above 64x64 plus every ToRGB)."""
        if mode == "all":
            yield from self.synthesis.parameters()
            yield from self.mapping.mlp.parameters()
        elif mode == "text_encoder":
            if self.text_encoder is None:
                raise ValueError("train mode 'text_encoder' needs a generator with a text encoder")
            yield from self.text_encoder.parameters()
        elif mode == "freeze64":
            for block in self.synthesis.blocks():
                if block.resolution > 64:
                    yield from block.parameters()
                else:
                    yield from block.torgb.parameters()
        else:
            raise ValueError(f"unknown train mode {mode!r}; expected one of {TRAIN_MODES}")

    def set_train_mode(self, mode: str = "all") -> list[nn.Parameter]:
        """Set ``requires_grad`` so exactly ``trainable_parameters(mode)`` train; returns them."""
        params = list(self.trainable_parameters(mode))
        if mode == "text_encoder":
            self.text_encoder.by_reference = False  # trained: files store its tensors from now on
        self.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        return params

    # --- files (a diffusers-style folder; stylegan_t.persistence owns the formats) --------------------

    def save_pretrained(self, folder: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
        """Write ``folder/config.json`` + ``folder/model.safetensors``; a frozen text tower is stored by reference."""
        from ..persistence import write_pretrained

        return write_pretrained(folder, self, dtype=dtype)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, *, device: str | torch.device = "cpu", text_encoder: str | None = None
    ) -> "Generator":
        """The eval-mode generator of a pretrained folder, a ``.safetensors`` export or a training checkpoint."""
        from ..persistence import read_generator

        return read_generator(path, device=device, text_encoder=text_encoder)
