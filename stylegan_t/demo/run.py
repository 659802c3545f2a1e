"""``stylegan-t demo``: make the procedural shards, train the ``demo`` recipe, report text alignment."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from ..clip_pretraining import PretrainClipConfig, format_scores, pretrain_clip
from ..latents import seed_latents
from .alignment import alignment_report, format_report
from .shards import ensure_demo_shards

#: the scenes the demo trains on: five places, captions naming colour and shape (and the place in half of them)
DEFAULT_LAYOUT = "positions"
#: the demo's tiny CLIP: ``stylegan-t pretrain-clip --model stylegan-t-tiny-conv`` on the demo's shards with
#: these settings, exactly as for one's own data (docs/own-data.md); nothing about the scenes is used beyond
#: image-caption pairs. Its ResNet image tower, as D's features, teaches shape and position in half the images
#: of the ViT's, at the same cost per image (docs/performance.md). 400 steps: after 150 its held-out retrieval
#: was as good (capped by the captions' wording), but the generator learned position worse (docs/performance.md).
DEMO_CLIP = PretrainClipConfig(steps=400, batch_size=128, model="stylegan-t-tiny-conv")
QUICK_CLIP = dataclasses.replace(DEMO_CLIP, steps=20, batch_size=32)


def run_demo(
    *, out_dir: str | Path = "runs/demo", quick: bool = False, overrides: list[str] | None = None, layout: str = DEFAULT_LAYOUT
) -> dict:
    """Train the demo recipe into ``out_dir`` and return the alignment report (also written as JSON + PNG).

    ``quick`` is the CI-sized version: a few iterations, the same pipeline end to end. ``layout`` picks the
    scenes (:data:`stylegan_t.demo.scenes.LAYOUTS`); position is reported only where captions name it.
    """
    from ..training.fit import fit
    from ..training.recipe import load_recipe

    out = Path(out_dir)
    num_samples = 512 if quick else 8192
    shards_dir = out / "data"
    ensure_demo_shards(shards_dir, num_samples=num_samples, samples_per_shard=128 if quick else 1024, layout=layout)
    trained = pretrain_clip(str(shards_dir), out / "tiny_clip", QUICK_CLIP if quick else DEMO_CLIP)
    print(format_scores(trained.scores))
    clip = trained.spec
    settings = [
        f"data.urls={shards_dir}",
        f"run.dir={out}",
        f"model.generator.text_encoder.model={clip}",
        f"model.discriminator.feature_network.model={clip}",
        f"loss.clip_model={clip}",
    ]
    if quick:
        settings += ["run.total_kimg=0.064", "run.sample_every_kimg=0.032", "data.batches_per_epoch=2", "data.num_workers=0"]
    recipe = load_recipe("demo", settings + list(overrides or []))
    model, trainer = fit(recipe)
    if trainer.global_rank != 0:
        return {}
    G = model.generator_ema.module.eval()

    def generate(prompts: list[str], seeds: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return G(seed_latents(seeds, G.z_dim, model.device), prompts, noise_mode="const")

    report = alignment_report(
        generate, num_prompts=24 if quick else 96, exclude=recipe.run.sample_prompts, out_dir=out, with_position=layout == "positions"
    )
    report["kimg"] = model.kimg()
    (out / "alignment.json").write_text(json.dumps(report, indent=1))
    print()
    print(format_report(report))
    print(f"\nSample grids: {out / 'samples'}  checkpoint: {out / 'checkpoints' / 'last.ckpt'}")
    print(f"Report: {out / 'alignment.json'}, {out / 'alignment.png'}")
    return report
