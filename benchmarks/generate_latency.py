"""Generation latency of a generator (default: ``full`` at 512 px, bf16, batch 1 and 16) and its peak memory.

    python benchmarks/generate_latency.py                                   # GPU: full 512 px, bf16
    python benchmarks/generate_latency.py --preset tiny --resolution 32 --device cpu --batch 1 2

Random weights (latency does not depend on their values); text features given as a tensor, so the text
encoder's cost is left out (one ViT-L/14 text pass per prompt). ``--compile`` compiles the synthesis network.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig  # noqa: E402


def latency(G: Generator, batch: int, *, device: torch.device, dtype: torch.dtype | None, iters: int, warmup: int) -> list[float]:
    """Seconds per ``G(z, c)`` call (eval, const noise), ``iters`` times after ``warmup`` calls."""
    z = torch.randn(batch, G.z_dim, device=device)
    c = torch.nn.functional.normalize(torch.randn(batch, G.c_dim, device=device), dim=1)
    out = []
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for i in range(warmup + iters):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            G(z, c, noise_mode="const")
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                out.append(time.perf_counter() - start)
    return out


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="full")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--text-dim", type=int, default=768, help="768 = CLIP ViT-L/14 text features")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="append results as JSON lines")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else None
    text = TextEncoderConfig(model="", text_dim=args.text_dim)
    cfg = GeneratorConfig(img_resolution=args.resolution, preset=args.preset, text_encoder=text)
    G = Generator(cfg).eval().to(device)
    if args.compile:
        G.synthesis.compile()
    results = []
    for batch in args.batch:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = latency(G, batch, device=device, dtype=dtype, iters=args.iters, warmup=args.warmup)
        med = statistics.median(times)
        row = {"preset": args.preset, "resolution": args.resolution, "batch": batch, "precision": args.precision,
               "compile": args.compile, "latency_ms": med * 1000, "images_per_s": batch / med, "peak_mib": peak_mib(device)}
        results.append(row)
        print(f"generate {args.preset} {args.resolution}px batch {batch} {args.precision}{' compiled' if args.compile else ''}: "
              f"{row['latency_ms']:.1f} ms ({row['images_per_s']:.2f} img/s), peak {row['peak_mib']:.0f} MiB")
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    return results


if __name__ == "__main__":
    main()
