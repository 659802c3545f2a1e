"""Same-run A/B of a recipe's training throughput: the code before the D step's shared real pass, today's code,
and today's code compiled, alternated in one process (medians and ratios against the first variant).

    python benchmarks/recipe_ab.py runs/demo/recipe.yaml --repeats 3 --batches 30 --warmup 5
    python benchmarks/recipe_ab.py tiny-cpu --repeats 1 --batches 2 --warmup 1 --variants before,today   # CI-sized
    python benchmarks/recipe_ab.py runs/demo/recipe.yaml --variants today,resnet \
        --variant "resnet=model.discriminator.feature_network.model=local-dir:runs/demo-conv/tiny_clip"

Each run is a short real ``fit`` on random shards (``train_throughput.py``); ``first iteration`` includes
compilation (inductor's cache is warm after the first compiled run of a process).
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_throughput  # noqa: E402

from stylegan_t.training.module import StyleGANT  # noqa: E402

#: variant -> (recipe overrides, whether the D step runs the baseline's separate matching-aware pass)
VARIANTS: dict[str, tuple[list[str], bool]] = {
    "before": (["run.compile=false"], True),
    "today": (["run.compile=false"], False),
    "today+compile": (["run.compile=true"], False),
}


@contextlib.contextmanager
def separate_mismatch_pass(enabled: bool) -> Iterator[None]:
    """Swap in the baseline's D loss (``benchmarks/baseline/discriminator_step.py``) while the block runs."""
    from baseline import discriminator_step

    saved = StyleGANT.discriminator_loss
    if enabled:
        StyleGANT.discriminator_loss = discriminator_step.discriminator_loss
    try:
        yield
    finally:
        StyleGANT.discriminator_loss = saved


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="section.key=value recipe overrides for every variant")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE[;KEY=VALUE...]",
                        help="define a variant: today's code, uncompiled, with these overrides (name it in --variants)")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/bench-recipe-ab"))
    args = parser.parse_intermixed_args(argv)
    variants = dict(VARIANTS)
    for spec in args.variant:
        name, _, settings = spec.partition("=")
        if not name or "=" not in settings:
            parser.error(f"--variant {spec!r}: expected NAME=KEY=VALUE[;KEY=VALUE...]")
        variants[name] = (["run.compile=false", *settings.split(";")], False)
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in variants]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(variants)}")
    results: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.repeats):
        for name in names:
            overrides, baseline = variants[name]
            with separate_mismatch_pass(baseline):
                results[name].append(train_throughput.main([
                    args.recipe, *args.overrides, *overrides, "--batches", str(args.batches), "--warmup", str(args.warmup),
                    "--work-dir", str(args.work_dir / name), "--label", name,
                ]))
    reference = statistics.median(r["images_per_s"] for r in results[names[0]])
    print(f"\n{'variant':<15} {'images/s (runs)':<26} {'median':>8} {'vs ' + names[0]:>12} {'first iteration s':>18}")
    for name in names:
        speeds = [r["images_per_s"] for r in results[name]]
        firsts = ", ".join(f"{r['first_iteration_s']:.1f}" for r in results[name])
        median = statistics.median(speeds)
        print(f"{name:<15} {', '.join(f'{s:.1f}' for s in speeds):<26} {median:>8.1f} {median / reference:>11.2f}x {firsts:>18}")
    return results


if __name__ == "__main__":
    from stylegan_t.errors import RecipeError

    try:
        main()
    except RecipeError as error:  # a bad override: one line, as the CLI says it
        raise SystemExit(f"recipe_ab.py: {error}") from None
