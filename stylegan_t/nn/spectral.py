"""Spectrally normalized convolutions of the discriminator heads (arXiv 2301.09515, Sec. 3.2: one power iteration
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
        return _DivideBySigma.apply(weight, u, v)

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value  # ``conv.weight = W`` stores W as the unnormalized original


class _DivideBySigma(torch.autograd.Function):
    """``W / sigma`` with ``sigma = u^T W v`` (``u``, ``v`` constants), with a hand-written backward:
    ``dL/dW = g / sigma - (<g, W> / sigma^2) u v^T``. The same gradient autograd derives, in three passes over
    ``W`` instead of seven (division, its quotient rule, the outer product and the sum): the heads' weights are
    the discriminator's largest tensors, and this backward was a quarter of its time (benchmarks/efficiency.py)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        sigma = torch.dot(u, torch.mv(weight.flatten(1), v))
        ctx.save_for_backward(weight, u, v, sigma)
        return weight / sigma

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        weight, u, v, sigma = ctx.saved_tensors
        grad_weight = grad.contiguous() / sigma  # a conv2d's weight gradient may come channels-last: view needs contiguous
        coef = torch.dot(grad.reshape(-1), weight.reshape(-1)) / (sigma * sigma)
        grad_weight.view(weight.shape[0], -1).addr_(u * -coef, v)  # coef stays a tensor: no device sync
        return grad_weight, None, None


class SpectralConv1d(nn.Conv1d):
    """``Conv1d`` whose (parametrized) weight is computed with autocast off: sigma and the power iteration stay
    float32 under mixed precision (CUDA autocast would run ``mv`` in half precision); the conv itself autocasts.
    On the CPU, 1x1 convs and convs over fewer tokens than the kernel run as one matmul (over the unfolded
    windows): the same function, forward + backward 1.5-2.5x faster than mkldnn's conv1d there (more tokens:
    unfolding's backward costs more than it saves)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            weight = self.weight
        k = self.kernel_size[0]
        plain = self.groups == 1 and self.stride == (1,) and self.dilation == (1,)
        if x.device.type == "cpu" and plain and (k == 1 or x.shape[-1] < k):
            return self._conv_as_matmul(x, weight)
        if self.padding_mode == "circular" and self._pad_width() > x.shape[-1]:
            return F.conv1d(self._padded(x), weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return self._conv_forward(x, weight, self.bias)

    def _pad_width(self) -> int:
        return self.padding[0] if isinstance(self.padding, tuple) else 0

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` padded as ``padding_mode`` says; circular padding wider than the sequence wraps around as often
        as needed (a head on a deep tap with fewer tokens than the kernel, e.g. a ResNet's 2×2 or 1×1 stage)."""
        pad = self._pad_width()
        if not pad:
            return x
        if self.padding_mode != "circular":
            return F.pad(x, (pad, pad))
        if pad <= x.shape[-1]:
            return F.pad(x, (pad, pad), mode="circular")
        return x[..., torch.arange(-pad, x.shape[-1] + pad, device=x.device) % x.shape[-1]]

    def _conv_as_matmul(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``[B, C, N]`` -> ``[B, O, N]``: pad as ``padding_mode`` says, unfold the ``k`` windows, multiply."""
        x = self._padded(x)
        batch, channels, length = x.shape
        out, _, k = weight.shape
        tokens = length - k + 1
        windows = x.unsqueeze(3) if k == 1 else x.unfold(2, k, 1)  # [B, C, N, k]
        cols = windows.permute(0, 2, 1, 3).reshape(batch * tokens, channels * k)  # [B*N, C*k]
        w = weight.reshape(out, channels * k).t()
        y = cols @ w if self.bias is None else torch.addmm(self.bias, cols, w)
        return y.reshape(batch, tokens, out).transpose(1, 2)


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
