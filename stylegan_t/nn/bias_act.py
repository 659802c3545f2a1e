"""Bias + activation with gain and clamp (StyleGAN2: leaky ReLU 0.2 with gain sqrt(2))."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Default gain per activation: keeps the output's second moment equal to the input's.
ACTIVATION_GAINS = {"linear": 1.0, "relu": math.sqrt(2.0), "lrelu": math.sqrt(2.0)}


def activate(x: torch.Tensor, act: str, alpha: float = 0.2, *, inplace: bool = False) -> torch.Tensor:
    """Apply a named activation: ``linear``, ``relu`` or ``lrelu`` (slope ``alpha``); ``inplace`` only for
    tensors autograd does not track."""
    if act == "linear":
        return x
    if act == "relu":
        return F.relu(x, inplace=inplace)
    if act == "lrelu":
        return F.leaky_relu(x, alpha, inplace=inplace)
    raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATION_GAINS)}")


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    *,
    dim: int = 1,
    act: str = "linear",
    alpha: float = 0.2,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """``clamp(act(x + b) * gain)``, bias broadcast along ``dim``; ``gain`` defaults to the activation's.

    Without autograd, the steps after the first run in place on its (fresh) output: one allocation, not four.
    """
    inplace = not torch.is_grad_enabled()
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.to(x.dtype).reshape(shape)
        x = activate(x, act, alpha, inplace=inplace)
    else:
        x = activate(x, act, alpha)
        inplace = inplace and act != "linear"  # "linear" returned the caller's tensor itself
    gain = ACTIVATION_GAINS[act] if gain is None else gain
    if gain != 1:
        x = x.mul_(gain) if inplace else x * gain
        inplace = not torch.is_grad_enabled()
    if clamp is not None and clamp >= 0:
        # hardtanh is clamp with a one-pass backward (clamp's builds masks: ~4x slower on a CPU); they differ only
        # in the gradient at exactly +-clamp
        x = F.hardtanh(x, -float(clamp), float(clamp), inplace=inplace)
    return x
