"""Spectrally normalized Conv1d (SPEC "Discriminator (projected)": 1 power iteration per training forward).

Built on ``torch.nn.utils.parametrizations.spectral_norm``: the power iteration runs only when the
module is in training mode; eval uses the stored ``u``, ``v`` (``sigma = u^T W v``) and changes nothing.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

#: old-style ``torch.nn.utils.spectral_norm`` state-dict leaf -> the parametrization's leaf
LEGACY_SPECTRAL_KEYS = {
    "weight_orig": "parametrizations.weight.original",
    "weight_u": "parametrizations.weight.0._u",
    "weight_v": "parametrizations.weight.0._v",
}


class SpectralConv1d(nn.Conv1d):
    """``Conv1d`` whose (parametrized) weight is computed with autocast off: sigma and the power iteration stay
    float32 under mixed precision (CUDA autocast would run ``mv`` in half precision); the conv itself autocasts."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            weight = self.weight
        return self._conv_forward(x, weight, self.bias)


def spectral_conv1d(
    in_channels: int, out_channels: int, kernel_size: int, *, circular: bool = True, n_power_iterations: int = 1
) -> nn.Conv1d:
    """``Conv1d`` with 'same' padding (circular by default) and a spectrally normalized weight (dim 0, eps 1e-12)."""
    conv = SpectralConv1d(
        in_channels,
        out_channels,
        kernel_size,
        padding=kernel_size // 2,
        padding_mode="circular" if circular and kernel_size > 1 else "zeros",
    )
    return spectral_norm(conv, n_power_iterations=n_power_iterations, eps=1e-12, dim=0)


def rename_legacy_spectral_key(key: str) -> str:
    """``a.b.weight_orig`` -> ``a.b.parametrizations.weight.original`` (and ``_u`` / ``_v``); other keys unchanged."""
    head, _, leaf = key.rpartition(".")
    if leaf in LEGACY_SPECTRAL_KEYS:
        return f"{head}.{LEGACY_SPECTRAL_KEYS[leaf]}" if head else LEGACY_SPECTRAL_KEYS[leaf]
    return key
