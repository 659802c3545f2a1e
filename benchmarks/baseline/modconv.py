"""Baseline copy (commit 54bde8f) of the modulated conv, for same-run A/B in benchmarks/efficiency.py.

Both paths compute ``conv(x, W * s_i) * d_o`` with ``d_o = 1/sqrt(sum_{i,k} (W_oik s_i)^2 + 1e-8)``.
The fused path bakes styles into per-sample weights and runs one grouped conv (fast at inference);
the unfused path scales activations before and after a shared-weight conv (cheaper backward).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from stylegan_t.nn.upfirdn import upfirdn2d


def _conv(x: torch.Tensor, w: torch.Tensor, *, up: int, padding: int, groups: int, f: torch.Tensor | None) -> torch.Tensor:
    """Conv with optional x2 upsampling: transposed conv (stride ``up``) then the FIR filter."""
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
    with torch.autocast(device_type=x.device.type, enabled=False):
        styles = styles.float()
        weight = weight.float()
        dcoefs = None
        if demodulate:
            # sum_{i,k} (W_oik s_i)^2 = sum_i s_i^2 * sum_k W_oik^2
            dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [B, O]
        if fused:
            w = weight.unsqueeze(0) * styles.reshape(batch, 1, in_ch, 1, 1)
            if dcoefs is not None:
                w = w * dcoefs.reshape(batch, out_ch, 1, 1, 1)
            w = w.reshape(batch * out_ch, in_ch, kh, kw).to(dtype)
    if fused:
        y = _conv(x.reshape(1, batch * in_ch, *x.shape[2:]), w, up=up, padding=padding, groups=batch, f=resample_filter)
        y = y.reshape(batch, out_ch, *y.shape[2:])
        return y if noise is None else y + noise.to(dtype)
    y = _conv(x * styles.to(dtype).reshape(batch, in_ch, 1, 1), weight.to(dtype), up=up, padding=padding, groups=1, f=resample_filter)
    if dcoefs is not None:
        y = y * dcoefs.to(dtype).reshape(batch, out_ch, 1, 1)
    return y if noise is None else y + noise.to(dtype)
