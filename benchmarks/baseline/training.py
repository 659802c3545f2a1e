"""Baseline copies (commit 54bde8f) for same-run A/B in benchmarks/efficiency.py: the optimisation step's
per-tensor loops (torch's default Adam, the EMA update, the gradient finish) the D heads' spectral-norm conv
(autograd-derived backward, torch's conv1d), and the layout of G's Fourier-feature input."""
from __future__ import annotations

import torch


def make_adam(params, *, lr: float, betas: tuple[float, float], eps: float) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, generator: torch.nn.Module, *, beta: float) -> None:
    for p_ema, p in zip(ema.module.parameters(), generator.parameters()):
        if p_ema is not p:
            p_ema.copy_(p.detach().to(p_ema.dtype).lerp(p_ema, beta))
    for b_ema, b in zip(ema.module.buffers(), generator.buffers()):
        if b_ema is not b:
            b_ema.copy_(b)


def finish_gradients(params, num_micro_batches: int) -> None:
    for p in params:
        if p.grad is not None:
            p.grad.mul_(num_micro_batches).nan_to_num_(nan=0.0, posinf=1e5, neginf=-1e5)


def spectral_norm_forward(self, weight: torch.Tensor) -> torch.Tensor:
    """``SpectralNorm.forward`` as of the baseline: ``W / sigma`` differentiated by autograd."""
    mat = weight.flatten(1)
    if self.training:
        self.power_iteration(mat, self.n_power_iterations)
    u = self._u.clone(memory_format=torch.contiguous_format)
    v = self._v.clone(memory_format=torch.contiguous_format)
    return weight / torch.dot(u, torch.mv(mat, v))


def spectral_conv1d_forward(self, x: torch.Tensor) -> torch.Tensor:
    """``SpectralConv1d.forward`` as of the baseline: torch's ``conv1d`` on every device."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        weight = self.weight
    return self._conv_forward(x, weight, self.bias)


def fourier_features_forward(today):
    """``FourierFeatures.forward`` as of the baseline, built from today's: the same values in the channels-last
    strides of the baseline's permuted view (which every conv of G then inherited)."""

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return today(self, w).permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)

    return forward
