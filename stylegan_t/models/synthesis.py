"""Synthesis network (paper Sec. 3.1: residual convolutions, GroupNorm, layer scale; skip architecture): layers, ToRGB, blocks, network."""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from ..nn.bias_act import ACTIVATION_GAINS, bias_act
from ..nn.fourier import FourierFeatures
from ..nn.modconv import modulated_conv2d
from ..nn.style import StyleSplit
from ..nn.upfirdn import setup_filter, upsample2d

NOISE_MODES = ("random", "const", "none")
RESAMPLE_TAPS = (1, 3, 3, 1)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv + noise + bias/lrelu; ``residual=True`` adds the GroupNorm / layer-scale skip.

    Residual form (paper Sec. 3.1; details: original release): ``h = GroupNorm(x)``; ``y = (h + gamma * act(modconv(h) + b)) * sqrt(2)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        conv_clamp: float | None = 256,
        residual: bool = False,
        gn_groups: int = 32,
        layer_scale_init: float = 1e-5,
    ) -> None:
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError("a residual synthesis layer needs in_channels == out_channels")
        self.resolution = resolution
        self.up = up
        self.padding = kernel_size // 2
        self.conv_clamp = conv_clamp
        self.residual = residual
        self.affine = StyleSplit(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([1]))  # [1], not a scalar: FSDP2 cannot shard scalars
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_TAPS), persistent=False)
        if residual:
            # 32 groups as in the paper; narrow custom configs use the largest divisor of the channels.
            self.norm = nn.GroupNorm(math.gcd(gn_groups, out_channels), out_channels)
            self.gamma = nn.Parameter(torch.full([1, out_channels, 1, 1], float(layer_scale_init)))

    def noise(self, x: torch.Tensor, noise_mode: str) -> torch.Tensor | None:
        """Per-pixel noise for ``random`` / ``const`` / ``none`` (StyleGAN2 noise inputs)."""
        if noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            return torch.randn(shape, device=x.device) * self.noise_strength
        if noise_mode == "const":
            return self.noise_const * self.noise_strength
        if noise_mode == "none":
            return None
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        *,
        noise_mode: str = "random",
        fused_modconv: bool = True,
        gain: float = 1.0,
    ) -> torch.Tensor:
        dtype = x.dtype
        styles = self.affine(w)
        if self.residual:
            x = self.norm(x.float()).to(dtype)  # GroupNorm statistics in float32
        y = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=self.noise(x, noise_mode),
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            fused=fused_modconv,
        )
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        y = bias_act(y, self.bias, act="lrelu", gain=ACTIVATION_GAINS["lrelu"] * gain, clamp=clamp)
        if self.residual:
            y = (x + self.gamma.to(y.dtype) * y) * math.sqrt(2)
        return y


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation, styles scaled by ``1/sqrt(C_in)``, bias and clamp."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, conv_clamp: float | None = 256) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = StyleSplit(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(0.1 * torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        y = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused_modconv)
        return bias_act(y, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (Fourier input | up-sampling conv0), ``num_res_blocks`` (plain, residual) pairs, ToRGB."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        w_dim: int,
        resolution: int,
        img_channels: int = 3,
        num_res_blocks: int = 2,
        conv_clamp: float | None = 256,
        gn_groups: int = 32,
        layer_scale_init: float = 1e-5,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        layer_kwargs = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp)
        if in_channels == 0:
            self.input = FourierFeatures(w_dim, out_channels, size=resolution, sampling_rate=resolution, bandwidth=2)
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **layer_kwargs)
        convs = []
        for _ in range(num_res_blocks):
            convs.append(SynthesisLayer(out_channels, out_channels, **layer_kwargs))
            convs.append(
                SynthesisLayer(
                    out_channels,
                    out_channels,
                    residual=True,
                    gn_groups=gn_groups,
                    layer_scale_init=layer_scale_init,
                    **layer_kwargs,
                )
            )
        self.convs = nn.ModuleList(convs)
        self.torgb = ToRGB(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        self.register_buffer("resample_filter", setup_filter(RESAMPLE_TAPS), persistent=False)
        self.num_conv = 1 + len(convs)  # input or conv0, then the pairs
        self.num_torgb = 1

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        *,
        noise_mode: str = "random",
        fused_modconv: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w_iter: Iterator[torch.Tensor] = iter(ws.unbind(dim=1))
        kwargs = dict(noise_mode=noise_mode, fused_modconv=fused_modconv)
        if self.in_channels == 0:
            x = self.input(next(w_iter))
        else:
            x = self.conv0(x, next(w_iter), **kwargs)
        for conv in self.convs:
            x = conv(x, next(w_iter), gain=math.sqrt(0.5), **kwargs)
        y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).float()
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


def block_resolutions(img_resolution: int) -> list[int]:
    """``8, 16, ..., img_resolution`` (the original release starts at 8x8)."""
    log2 = int(math.log2(img_resolution))
    if img_resolution < 8 or 2**log2 != img_resolution:
        raise ValueError(f"img_resolution must be a power of two >= 8, got {img_resolution}")
    return [2**i for i in range(3, log2 + 1)]


class SynthesisNetwork(nn.Module):
    """Blocks ``b8 .. b{img_resolution}``, channels ``min(channel_base // r, channel_max)``; returns images."""

    def __init__(
        self,
        *,
        w_dim: int,
        img_resolution: int,
        img_channels: int = 3,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_res_blocks: int = 2,
        conv_clamp: float | None = 256,
        gn_groups: int = 32,
        layer_scale_init: float = 1e-5,
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.block_resolutions = block_resolutions(img_resolution)
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 8 else 0,
                channels[res],
                w_dim=w_dim,
                resolution=res,
                img_channels=img_channels,
                num_res_blocks=num_res_blocks,
                conv_clamp=conv_clamp,
                gn_groups=gn_groups,
                layer_scale_init=layer_scale_init,
            )
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += self.blocks()[-1].num_torgb

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def forward(self, ws: torch.Tensor, *, noise_mode: str = "random", fused_modconv: bool | None = None) -> torch.Tensor:
        """``ws`` [B, num_ws, w_dim] -> images [B, C, R, R], nominally in [-1, 1].

        ``fused_modconv=None`` uses the fused grouped conv in eval mode and scale/conv/scale in training.
        """
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [B, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        fused = (not self.training) if fused_modconv is None else fused_modconv
        x = img = None
        w_idx = 0
        for block in self.blocks():
            # Consecutive blocks overlap by one w: a block's ToRGB shares it with the next block's conv0.
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused_modconv=fused)
        return img
