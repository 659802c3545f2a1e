"""Images per second and peak memory of the generator, printed as a table.

    python benchmarks/generator.py --preset lite --resolution 64 --batch 32 --device cuda --precision bf16
"""
from __future__ import annotations

import argparse
import time

import torch

from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig


def measure(G: Generator, *, batch: int, device: torch.device, precision: str, fused: bool, iters: int, warmup: int) -> tuple[float, float]:
    z = torch.randn(batch, G.z_dim, device=device)
    c = torch.nn.functional.normalize(torch.randn(batch, G.c_dim, device=device), dim=1)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for i in range(warmup + iters):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
            G(z, c, noise_mode="const", fused_modconv=fused)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")
    return batch * iters / seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="lite, full or tiny")
    parser.add_argument("--resolution", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--text-dim", type=int, default=768, help="text feature size (768 = ViT-L/14)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} preset={args.preset} threads={torch.get_num_threads()} torch={torch.__version__}")
    header = f"{'res':>5} {'batch':>6} {'prec':>5} {'modconv':>8} {'params(M)':>10} {'img/s':>10} {'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    for res in args.resolution:
        text = TextEncoderConfig(model="", text_dim=args.text_dim)
        cfg = GeneratorConfig(img_resolution=res, preset=args.preset, text_encoder=text)
        G = Generator(cfg).eval().to(device)
        if args.channels_last:
            G = G.to(memory_format=torch.channels_last)
        params = sum(p.numel() for p in G.parameters()) / 1e6
        for batch in args.batch:
            for precision in args.precision:
                for fused in (True, False):
                    ips, peak = measure(
                        G, batch=batch, device=device, precision=precision, fused=fused, iters=args.iters, warmup=args.warmup
                    )
                    name = "fused" if fused else "unfused"
                    print(f"{res:>5} {batch:>6} {precision:>5} {name:>8} {params:>10.1f} {ips:>10.1f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
