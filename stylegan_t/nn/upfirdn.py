"""FIR up/down-sampling with StyleGAN2's ``upfirdn2d`` semantics, in pure PyTorch.

``upfirdn2d`` = zero-insertion upsampling by ``up``, padding (negative values crop), convolution
with a 2D FIR filter, then keeping every ``down``-th pixel (StyleGAN2's upfirdn, as in the original release).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Padding = int | Sequence[int]


def setup_filter(taps: Sequence[float] | torch.Tensor, *, normalize: bool = True) -> torch.Tensor:
    """2D filter from 1D taps (outer product), normalized to sum 1; e.g. ``[1, 3, 3, 1]`` -> 4x4."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    return f


def _padding4(padding: Padding) -> tuple[int, int, int, int]:
    """``(x0, x1, y0, y1)`` from an int, ``(x, y)`` or ``(x0, x1, y0, y1)``."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = list(padding)
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    x0, x1, y0, y1 = padding
    return x0, x1, y0, y1


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor,
    *,
    up: int = 1,
    down: int = 1,
    padding: Padding = 0,
    gain: float = 1.0,
    flip_filter: bool = False,
) -> torch.Tensor:
    """Upsample by zero insertion, pad/crop, convolve with ``f * gain`` (true convolution), downsample."""
    n, c, h, w = x.shape
    x0, x1, y0, y1 = _padding4(padding)
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    f = f.to(device=x.device, dtype=x.dtype) * gain
    if not flip_filter:
        f = f.flip([0, 1])  # conv2d correlates; flipping makes it a convolution
    x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, *, up: int = 2, gain: float = 1.0) -> torch.Tensor:
    """Upsample by ``up`` with filter ``f``; output exactly ``up`` times the input size."""
    fh, fw = f.shape
    pad = [(fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=pad, gain=gain * up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, *, down: int = 2, gain: float = 1.0) -> torch.Tensor:
    """Filter with ``f`` and downsample by ``down``; output exactly ``1/down`` of the input size."""
    fh, fw = f.shape
    pad = [(fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=pad, gain=gain)
