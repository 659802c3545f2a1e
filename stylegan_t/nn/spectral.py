"""Spectrally normalized Conv1d of the discriminator heads (arXiv 2301.09515, Sec. 3.2: one power iteration
per training forward).

A ``torch.nn.utils.parametrize`` parametrization whose power iteration runs in the original release's order,
``v = normalize(W^T u)`` then ``u = normalize(W v)`` (the legacy ``torch.nn.utils.spectral_norm`` it uses);
torch's ``parametrizations.spectral_norm`` updates ``u`` first, which from the same stored vectors changes
training-mode logits by several percent. Only training mode iterates; eval uses the stored ``u``, ``v``
(``sigma = u^T W v``) and changes nothing.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrize import register_parametrization

#: old-style ``torch.nn.utils.spectral_norm`` state-dict leaf -> the parametrization's leaf
ORIGINAL_SN_KEYS = {
    "weight_orig": "parametrizations.weight.original",
    "weight_u": "parametrizations.weight.0._u",
    "weight_v": "parametrizations.weight.0._v",
}


class SpectralNorm(nn.Module):
    """``weight -> weight / sigma`` with buffers ``_u`` [out], ``_v`` [in * k] (dim 0), updated v-then-u in training."""

    def __init__(self, weight: torch.Tensor, *, n_power_iterations: int = 1, eps: float = 1e-12, init_iterations: int = 15) -> None:
        super().__init__()
        if n_power_iterations <= 0:
            raise ValueError(f"n_power_iterations must be positive, got {n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        with torch.no_grad():
            mat = weight.flatten(1)
            self.register_buffer("_u", F.normalize(mat.new_empty(mat.shape[0]).normal_(), dim=0, eps=eps))
            self.register_buffer("_v", F.normalize(mat.new_empty(mat.shape[1]).normal_(), dim=0, eps=eps))
            self.power_iteration(mat, init_iterations)  # start from a reasonable estimate

    @torch.no_grad()
    def power_iteration(self, mat: torch.Tensor, iterations: int) -> None:
        """In place (buffers keep their storage): ``v = normalize(W^T u)``, then ``u = normalize(W v)``."""
        for _ in range(iterations):
            F.normalize(torch.mv(mat.t(), self._u), dim=0, eps=self.eps, out=self._v)
            F.normalize(torch.mv(mat, self._v), dim=0, eps=self.eps, out=self._u)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        mat = weight.flatten(1)
        if self.training:
            self.power_iteration(mat, self.n_power_iterations)
        # Clones: autograd must not see the in-place updates of the next training forward.
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        return weight / torch.dot(u, torch.mv(mat, v))

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value  # ``conv.weight = W`` stores W as the unnormalized original


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
    """``Conv1d`` with 'same' padding (circular by default) and a spectrally normalized weight (:class:`SpectralNorm`)."""
    conv = SpectralConv1d(
        in_channels,
        out_channels,
        kernel_size,
        padding=kernel_size // 2,
        padding_mode="circular" if circular and kernel_size > 1 else "zeros",
    )
    register_parametrization(conv, "weight", SpectralNorm(conv.weight, n_power_iterations=n_power_iterations))
    return conv


def rename_legacy_spectral_key(key: str) -> str:
    """``a.b.weight_orig`` -> ``a.b.parametrizations.weight.original`` (and ``_u`` / ``_v``); other keys unchanged."""
    head, _, leaf = key.rpartition(".")
    if leaf in ORIGINAL_SN_KEYS:
        return f"{head}.{ORIGINAL_SN_KEYS[leaf]}" if head else ORIGINAL_SN_KEYS[leaf]
    return key
