"""Milliseconds per discriminator pass in training mode (heads only, and the whole D), printed as a table.

    python benchmarks/discriminator.py --batch 16 64 --device cpu

The feature network is the demo's (a random ``stylegan-t-tiny`` open_clip ViT at 32x32, taps 0 and 1, plus
the patch tap) unless ``--timm`` names a timm ViT (random weights, e.g. ``vit_small_patch16_224`` at 224).
"""
from __future__ import annotations

import argparse
import time

import torch

from stylegan_t.models.discriminator import ProjectedDiscriminator
from stylegan_t.models.discriminator.config import FeatureNetworkConfig


def timed(step, *, device: torch.device, iters: int, warmup: int) -> float:
    """Mean milliseconds of ``step()`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / iters * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--timm", default=None, help="a timm ViT name instead of the demo's tiny CLIP image tower")
    parser.add_argument("--c-dim", type=int, default=64, help="text feature size")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.timm:
        features = FeatureNetworkConfig(kind="vit", model=args.timm, weights="random")
    else:
        features = FeatureNetworkConfig(kind="open_clip", model="stylegan-t-tiny", weights="random", taps=[0, 1])
    D = ProjectedDiscriminator(c_dim=args.c_dim, feature_network=features).to(device).train()
    size = D.feature_network.input_size or 32
    print(f"device={device} features={features.model} input={size} threads={torch.get_num_threads()} torch={torch.__version__}")
    header = f"{'batch':>6} {'prec':>5} {'heads fwd+bwd':>14} {'D fwd+bwd(real)':>16} {'D fwd+bwd(to x)':>16}  (ms)"
    print(header)
    print("-" * len(header))
    for batch in args.batch:
        for precision in args.precision:
            x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
            x_grad = x.clone().requires_grad_()
            c = torch.nn.functional.normalize(torch.randn(batch, args.c_dim, device=device), dim=1)
            autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
            with torch.no_grad(), autocast:
                feats = D.extract_features(D.augment(x))

            def heads():
                with autocast:
                    loss = D.logits_from_features(feats, c).float().mean()
                loss.backward()

            def full(inp):
                def step():
                    with autocast:
                        loss = D(inp, c).float().mean()
                    loss.backward()

                return step

            t = dict(iters=args.iters, warmup=args.warmup, device=device)
            row = (timed(heads, **t), timed(full(x), **t), timed(full(x_grad), **t))
            print(f"{batch:>6} {precision:>5} {row[0]:>14.2f} {row[1]:>16.2f} {row[2]:>16.2f}")


if __name__ == "__main__":
    main()
