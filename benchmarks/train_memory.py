"""GPU memory of one training iteration of a recipe at real size: peak at the recipe's micro-batch, and the largest
micro-batch that fits (doubling until out of memory, then halving the gap).

    python benchmarks/train_memory.py lite-64 full-64            # CUDA: random weights of the real architectures
    python benchmarks/train_memory.py tiny-cpu --device cpu --max 8   # the CPU form (no memory figures), for CI

One iteration is what ``StyleGANT.training_step`` does for one micro-batch: G forward without gradients, the
D hinge loss on blurred real and fake (two D passes), its backward and an Adam step, then G forward, D, CLIP
guidance when the recipe has it, backward and an Adam step; under bf16 autocast (``--precision``), Adam states
included. Frozen networks are the recipe's architectures with random weights (``pretrained: random``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylegan_t.training.module import StyleGANT  # noqa: E402
from stylegan_t.training.optim import make_adam  # noqa: E402
from stylegan_t.training.recipe import load_recipe  # noqa: E402

RANDOM_FROZEN = ["model.generator.text_encoder.pretrained=random", "model.discriminator.feature_network.weights=random",
                 "loss.clip_pretrained=random"]


def one_iteration(module: StyleGANT, opts: tuple, batch: int, device: torch.device, dtype: torch.dtype | None) -> None:
    """One D step and one G step on ``batch`` random images and captions."""
    d_opt, g_opt = opts
    res = module.generator.img_resolution
    real = torch.rand(batch, 3, res, res, device=device) * 2 - 1
    captions = [f"a photo of thing {i}" for i in range(batch)]
    sigma = module.recipe.loss.blur_sigma
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else torch.autocast(device.type, enabled=False)
    with autocast:
        with torch.no_grad():
            c = module.generator.mapping.encode_text(captions)
            fake = module.generator(torch.randn(batch, module.generator.z_dim, device=device), c)
        module.discriminator_loss(real, fake, c, sigma).backward()
    d_opt.step()
    d_opt.zero_grad(set_to_none=True)
    with autocast:
        fake = module.generator(torch.randn(batch, module.generator.z_dim, device=device), c)
        adv, clip = module.generator_loss(fake, c, captions, sigma)
        (adv + module.recipe.loss.clip_weight * clip).backward()
    g_opt.step()
    g_opt.zero_grad(set_to_none=True)


def measure(recipe_name: str, device: torch.device, dtype: torch.dtype | None, largest_cap: int) -> dict:
    recipe = load_recipe(recipe_name, RANDOM_FROZEN)
    start = time.perf_counter()
    module = StyleGANT(recipe).to(device)
    if dtype is not None:
        module.cast_frozen_networks(dtype)
    o = recipe.optim
    opts = tuple(make_adam([p for p in net.parameters() if p.requires_grad], lr=1e-4, betas=tuple(o.betas), eps=o.eps)
                 for net in (module.discriminator, module.generator))
    build_s = time.perf_counter() - start

    def fits(batch: int) -> float | None:
        """Peak MiB of one iteration at ``batch``, or None when it runs out of memory."""
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        try:
            one_iteration(module, opts, batch, device, dtype)
        except torch.OutOfMemoryError:
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            return None
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            return torch.cuda.max_memory_allocated(device) / 2**20
        return float("nan")

    at_recipe = fits(o.micro_batch_size)
    ok, bad, batch = (o.micro_batch_size if at_recipe is not None else 0), None, o.micro_batch_size
    while at_recipe is not None and batch < largest_cap:  # double until out of memory
        batch *= 2
        if fits(batch) is None:
            bad = batch
            break
        ok = batch
    while bad is not None and bad - ok > max(1, ok // 8):  # then halve the gap, to within 1/8
        mid = (ok + bad) // 2
        if fits(mid) is None:
            bad = mid
        else:
            ok = mid
    return {"recipe": recipe_name, "micro_batch": o.micro_batch_size, "peak_mib": at_recipe, "largest_micro_batch": ok,
            "capped": bad is None, "build_s": build_s,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--max", type=int, default=1024, help="largest micro-batch tried")
    parser.add_argument("--json", type=Path, default=None, help="append each result as one JSON line")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else None
    results = []
    print("| recipe | micro-batch | peak at it (MiB) | largest micro-batch that fits | device |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name in args.recipes:
        r = measure(name, device, dtype, args.max)
        results.append(r)
        peak = f"{r['peak_mib']:.0f}" if r["peak_mib"] is not None and r["peak_mib"] == r["peak_mib"] else "n/a"
        largest = f"{r['largest_micro_batch']}{'+' if r['capped'] else ''}"
        print(f"| {name} | {r['micro_batch']} | {peak} | {largest} | {r['device']} |", flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(r) + "\n")
    return results


if __name__ == "__main__":
    main()
