"""Generation precision chosen by measurement: ``fp32``, ``bf16`` (autocast) or ``auto``.

Whether bf16 is faster depends on the device and the model: on a CPU with bf16 matrix units (Intel AMX) the
large convolutions gain, on one without them (e.g. AMD EPYC with only avx512_bf16) the conversions cost more
than they save and bf16 is slower. ``auto`` times a short forward pass in both and keeps the faster; bf16 is
chosen only when it is clearly faster (by :data:`BF16_MARGIN`), so it is never the slower default.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_HELP = "fp32, bf16 (autocast) or auto: the faster of the two on this device and model, measured once (default auto)"
#: bf16 must beat fp32 by this fraction of fp32's time to be chosen
BF16_MARGIN = 0.05


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``auto`` chose and the timings it chose by (seconds per call; None when not measured)."""

    precision: str
    fp32_s: float | None = None
    bf16_s: float | None = None

    def describe(self) -> str:
        if self.fp32_s is None or self.bf16_s is None:
            return f"precision {self.precision}"
        return (f"precision auto -> {self.precision} (measured here: fp32 {self.fp32_s * 1000:.0f} ms, "
                f"bf16 {self.bf16_s * 1000:.0f} ms per call)")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


@contextlib.contextmanager
def compute_precision(precision: str, device: torch.device) -> Iterator[None]:
    """``bf16``: autocast to bfloat16 on ``device``; ``fp32``: as is."""
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def measure_precision(run: Callable[[str], object], *, repeats: int = 3,
                      timer: Callable[[], float] = time.perf_counter) -> PrecisionChoice:
    """Time ``run("fp32")`` and ``run("bf16")`` (one warm-up each, then the median of ``repeats``) and choose."""
    seconds = {}
    for precision in ("fp32", "bf16"):
        run(precision)  # warm-up: first-call allocations and kernel selection
        times = []
        for _ in range(repeats):
            start = timer()
            run(precision)
            times.append(timer() - start)
        seconds[precision] = sorted(times)[len(times) // 2]
    faster = seconds["bf16"] < seconds["fp32"] * (1 - BF16_MARGIN)
    return PrecisionChoice("bf16" if faster else "fp32", fp32_s=seconds["fp32"], bf16_s=seconds["bf16"])
