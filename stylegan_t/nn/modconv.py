"""Modulated convolution (StyleGAN2 weight demodulation, used by paper Sec. 3.1), fused (grouped conv) or scale/conv/scale.

Both paths compute ``conv(x, W * s_i) * d_o`` with ``d_o = 1/sqrt(sum_{i,k} (W_oik s_i)^2 + 1e-8)``.
The fused path bakes styles into per-sample weights and runs one grouped conv (fast at inference);
the unfused path scales activations before and after a shared-weight conv (cheaper backward).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .upfirdn import upfirdn2d


def _conv(x: torch.Tensor, w: torch.Tensor, *, up: int, padding: int, groups: int, f: torch.Tensor | None) -> torch.Tensor:
    """Conv with optional x2 upsampling: transposed conv (stride ``up``) then the FIR filter."""
    if up == 1 and padding == 0 and w.shape[-2:] == (1, 1):
        return _conv1x1(x, w, groups=groups)
    if x.device.type == "cpu" and groups == 1:
        x = x.contiguous(memory_format=_cpu_layout(x, w))
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    out_per_group, in_per_group, kh, kw = w.shape
    out_per_group //= groups
    # conv_transpose2d takes [in, out/groups, kh, kw]; regroup the per-sample weights accordingly.
    wt = w.reshape(groups, out_per_group, in_per_group, kh, kw).transpose(1, 2)
    wt = wt.reshape(groups * in_per_group, out_per_group, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
    # Pads chosen so that the output is exactly `up` times the input (StyleGAN2 conv2d_resample).
    fw = f.shape[-1]
    p0 = padding + (fw + up - 1) // 2 - (kw - 1)
    p1 = padding + (fw - up) // 2 - (kw - up)
    return upfirdn2d(x, f, padding=[p0, p1, p0, p1], gain=up * up)


def _cpu_layout(x: torch.Tensor, w: torch.Tensor) -> torch.memory_format:
    """mkldnn runs channels-last activations without reordering them, but then converts the weight to that
    layout on every call: worth it where the activations outweigh the weights (high resolutions, few channels).
    Only without a backward: mkldnn's channels-last backward is slower than NCHW's (1.7x for 512 channels at
    64x64, the paper's ``lite`` G at 64 px; docs/performance.md), so a conv autograd will differentiate stays NCHW."""
    backward = torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)
    return torch.channels_last if not backward and x.numel() > w.numel() else torch.contiguous_format


def _conv1x1(x: torch.Tensor, w: torch.Tensor, *, groups: int) -> torch.Tensor:
    """1x1 (grouped) conv as a batched matmul: faster on CPU, and the weight gradient keeps the parameter's
    strides (conv2d returns a channels-last-strided gradient for ``[O, I, 1, 1]``, which DDP reports as "Grad
    strides do not match bucket view strides")."""
    n, c, h, wd = x.shape
    out = w.shape[0] // groups
    y = torch.matmul(w.reshape(groups, out, c // groups), x.reshape(n, groups, c // groups, h * wd))
    return y.reshape(n, groups * out, h, wd)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    fused: bool = True,
) -> torch.Tensor:
    """Modulate ``weight`` [O,I,k,k] by ``styles`` [B,I], optionally demodulate, convolve ``x`` [B,I,H,W].

    Weight and demodulation math runs in float32 even under autocast, so half precision cannot
    overflow the sum of squares; only the convolution itself runs in ``x.dtype``.
    """
    batch = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    dtype = x.dtype
    # Per-sample weights in one grouped conv pay off on GPUs (and keep float16 from overflowing); on the CPU
    # the shared-weight conv on the whole batch is ~1.6x faster (benchmarks/efficiency.py): same function.
    grouped = fused and (x.device.type == "cuda" or dtype == torch.float16)
    with torch.autocast(device_type=x.device.type, enabled=False):
        styles = styles.float()
        weight = weight.float()
        dcoefs = None
        if demodulate:
            # sum_{i,k} (W_oik s_i)^2 = sum_i s_i^2 * sum_k W_oik^2
            dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [B, O]
        if grouped:
            scale = styles.unsqueeze(1) if dcoefs is None else styles.unsqueeze(1) * dcoefs.unsqueeze(2)  # [B, O|1, I]
            w = weight.unsqueeze(0) * scale.unsqueeze(3).unsqueeze(4)  # one pass over the [B, O, I, k, k] weights
            w = w.reshape(batch * out_ch, in_ch, kh, kw).to(dtype)
    if grouped:
        y = _conv(x.reshape(1, batch * in_ch, *x.shape[2:]), w, up=up, padding=padding, groups=batch, f=resample_filter)
        y = y.reshape(batch, out_ch, *y.shape[2:])
        return y if noise is None else y + noise.to(dtype)
    y = _conv(x * styles.to(dtype).reshape(batch, in_ch, 1, 1), weight.to(dtype), up=up, padding=padding, groups=1, f=resample_filter)
    inplace = not torch.is_grad_enabled()  # y is a fresh tensor: update it in place when autograd needs nothing
    if dcoefs is not None:
        d = dcoefs.to(dtype).reshape(batch, out_ch, 1, 1)
        y = y.mul_(d) if inplace else y * d
    if noise is not None:
        y = y.add_(noise.to(dtype)) if inplace else y + noise.to(dtype)
    return y
