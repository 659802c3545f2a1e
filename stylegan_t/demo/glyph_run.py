"""The generality check: the own-data path end to end on the glyphs world, scored by its detector.

Exactly what a user with their own captioned images does (docs/own-data.md): an image folder with ``.txt``
captions -> ``make_shards`` -> ``pretrain_clip`` -> ``fit`` with ``recipes/own-data-cpu.yaml`` -> generate
held-out prompts in a wording no caption used -> :func:`stylegan_t.demo.glyph_detector.detect_glyphs`.

    python -m stylegan_t.demo.glyph_run --out runs/glyphs [--quick] [section.key=value ...]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..clip_pretraining import PretrainClipConfig, format_scores, pretrain_clip
from ..latents import seed_latents
from .alignment import format_report, heldout_seeds, prompt_alignment
from .glyph_detector import detect_glyphs
from .glyphs import ATTRIBUTES, heldout_prompts, write_image_folder

#: CLIP pretraining for these shards (as for the demo: see stylegan_t.demo.run.DEMO_CLIP)
GLYPH_CLIP = PretrainClipConfig(steps=600, batch_size=128)
#: held-out prompts per evaluation: every (colour, shape, count) combination 16 times
NUM_PROMPTS = 480
GRID_PROMPTS = ["two cyan rings", "a single orange cross", "one lime bar", "a pair of pink crosses", "one purple ring", "two orange bars"]


def run_glyphs(*, out_dir: str | Path = "runs/glyphs", quick: bool = False, overrides: list[str] | None = None,
               num_samples: int = 8192, clip: PretrainClipConfig = GLYPH_CLIP) -> dict:
    """Write the data, pretrain the CLIP, fit, and return (and write) the alignment report with timings."""
    from ..data.shard_tools import make_shards
    from ..training.fit import fit
    from ..training.recipe import load_recipe

    out = Path(out_dir)
    times: dict[str, float] = {}
    start = time.perf_counter()
    num_samples = 256 if quick else num_samples
    if not (out / "shards").is_dir():
        write_image_folder(out / "images", num_samples)
        make_shards(out / "images", out / "shards", shard_size=1024)
    times["data_s"] = time.perf_counter() - start
    if quick:
        clip = PretrainClipConfig(**{**clip.as_dict(), "steps": 5, "batch_size": 16})
    trained = pretrain_clip(str(out / "shards"), out / "clip", clip)
    print(format_scores(trained.scores))
    times["clip_s"] = time.perf_counter() - start - times["data_s"]
    settings = [
        f"data.urls={out / 'shards'}", f"run.dir={out}", f"model.generator.text_encoder.model={trained.spec}",
        f"model.discriminator.feature_network.model={trained.spec}", f"loss.clip_model={trained.spec}",
        f"run.sample_prompts=[{','.join(repr(p) for p in GRID_PROMPTS)}]",
    ]
    if quick:
        settings += ["run.total_kimg=0.032", "run.sample_every_kimg=0.016", "data.batches_per_epoch=2", "data.num_workers=0"]
    model, trainer = fit(load_recipe("own-data-cpu", settings + list(overrides or [])))
    times["fit_s"] = time.perf_counter() - start - times["data_s"] - times["clip_s"]
    G = model.generator_ema.module.eval()

    report = score_generator(G, num_prompts=30 if quick else NUM_PROMPTS, out_dir=out)
    report.update(kimg=model.kimg(), retrieval=trained.scores, **{k: round(v, 1) for k, v in times.items()},
                  total_s=round(time.perf_counter() - start, 1))
    (out / "alignment.json").write_text(json.dumps(report, indent=1))
    print()
    print(format_report(report))
    print(f"took {report['total_s']:.0f} s (data {times['data_s']:.0f}, CLIP {times['clip_s']:.0f}, fit {times['fit_s']:.0f})")
    return report


def score_generator(G: torch.nn.Module, *, num_prompts: int = NUM_PROMPTS, out_dir: str | Path | None = None) -> dict:
    """The alignment report of ``G`` on ``num_prompts`` held-out prompts, read by the independent detector."""
    device = next(G.parameters()).device

    def generate(prompts: list[str], seeds: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return G(seed_latents(seeds, G.z_dim).to(device), prompts, noise_mode="const")

    return prompt_alignment(generate, heldout_prompts(num_prompts), heldout_seeds(num_prompts), detect=detect_glyphs,
                            attributes=ATTRIBUTES, detector="stylegan_t.demo.glyph_detector", out_dir=out_dir)


def learning_curve(run_dir: str | Path, *, num_prompts: int = NUM_PROMPTS) -> list[dict]:
    """Score every ``epochNNNN.ckpt`` of a run (oldest first): accuracy per attribute against kimg and training
    minutes (the checkpoint's write time after the run's first checkpoint, plus that checkpoint's own share),
    the data behind "which settings buy the most accuracy per CPU-minute" (docs/own-data.md)."""
    from ..persistence.reader import read_generator_and_info
    from ..training.checkpoint_io import epoch_checkpoints

    paths = list(reversed(epoch_checkpoints(Path(run_dir) / "checkpoints")))
    rows = []
    for path in paths:
        G, info = read_generator_and_info(path)
        report = score_generator(G, num_prompts=num_prompts)
        kimg = info["images_seen"] / 1000
        rows.append({"checkpoint": path.name, "kimg": kimg, "mtime": path.stat().st_mtime, **report["accuracy"],
                     "all": report["all_correct"]})
    if len(rows) > 1:  # minutes from the write times, extrapolated back to kimg 0 at the first interval's pace
        pace = (rows[-1]["mtime"] - rows[0]["mtime"]) / max(rows[-1]["kimg"] - rows[0]["kimg"], 1e-9)
        for row in rows:
            row["minutes"] = (row["mtime"] - rows[0]["mtime"] + rows[0]["kimg"] * pace) / 60
    return rows


def format_curve(rows: list[dict]) -> str:
    names = [a for a in ATTRIBUTES if rows and a in rows[0]]
    lines = ["| kimg | fit minutes | " + " | ".join(names) + " | all requested |", "|" + " --- |" * (len(names) + 3)]
    for row in rows:
        minutes = f"{row['minutes']:.1f}" if "minutes" in row else "?"
        cells = " | ".join(f"{100 * row[a]:.1f}%" for a in names)
        lines.append(f"| {row['kimg']:.1f} | {minutes} | {cells} | {100 * row['all']:.1f}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylegan_t.demo.glyph_run", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="recipe overrides, e.g. run.total_kimg=48")
    parser.add_argument("--out", default="runs/glyphs")
    parser.add_argument("--quick", action="store_true", help="a CI-sized run of the same pipeline")
    parser.add_argument("--curve", action="store_true",
                        help="instead of a run: score every epoch checkpoint of the run in --out (the learning curve)")
    args = parser.parse_args(argv)
    if args.curve:
        rows = learning_curve(args.out)
        (Path(args.out) / "curve.json").write_text(json.dumps(rows, indent=1))
        print(format_curve(rows))
        return 0
    run_glyphs(out_dir=args.out, quick=args.quick, overrides=args.overrides)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
