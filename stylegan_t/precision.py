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
    #: why ``auto`` chose without measuring, e.g. a CPU without bf16 instructions
    reason: str = ""

    def describe(self) -> str:
        if self.reason:
            return f"precision auto -> {self.precision} ({self.reason})"
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


def bf16_units(device: torch.device) -> str | None:
    """The bf16 arithmetic ``device`` has in hardware (``"CUDA"``, ``"AMX"``, ``"AVX512-BF16"``; other device types
    by name), or None for a CPU that has neither AMX nor AVX512-BF16, where bf16 is emulated and many times slower."""
    if device.type != "cpu":
        return device.type.upper()
    for name, check in (("AMX", "_is_amx_tile_supported"), ("AVX512-BF16", "_is_avx512_bf16_supported")):
        if getattr(torch.cpu, check, lambda: False)():
            return name
    return None


def unmeasured_choice(device: torch.device) -> PrecisionChoice | None:
    """``auto`` decided without timing: fp32 on a CPU without bf16 instructions (a bf16 pass there can take minutes
    at the paper's sizes, only to lose); None where the two must be measured."""
    if bf16_units(device) is None:
        return PrecisionChoice("fp32", reason="this CPU has no bf16 instructions (AMX or AVX512-BF16): not measured")
    return None


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
