"""The emoji run: data, a small CLIP, ``fit emoji-cpu``, and the export of its EMA generator as a self-contained
pretrained folder (the one that ships as ``stylegan_t.load("emoji")``).

    python -m stylegan_t.demo.emoji_run --out runs/emoji [section.key=value ...]     # data + CLIP + fit
    python -m stylegan_t.demo.emoji_run --ship runs/emoji/checkpoints/last.ckpt --to DIR   # export

The export stores the text tower *by value* under the architecture name ``stylegan-t-tiny`` (which ships
with stylegan_t; ``stylegan-t-tiny-conv`` has the same text tower), so the folder references no file outside
itself; floating tensors are stored as float16.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from ..clip_pretraining import PretrainClipConfig, format_scores, pretrain_clip
from .emoji_data import build_emoji_data

#: the small CLIP of the emoji run (``stylegan-t pretrain-clip ... --steps 500 --model stylegan-t-tiny-conv``):
#: its ResNet image tower, as D's features, took the judge's group accuracy on the training names from 41.9%
#: (the ViT tower of ``stylegan-t-tiny``) to 45.4% at 272 kimg (docs/emoji.md)
EMOJI_CLIP = PretrainClipConfig(steps=500, batch_size=128, model="stylegan-t-tiny-conv")
TOWER_ARCH = "stylegan-t-tiny"


def run_emoji(*, out_dir: str | Path = "runs/emoji", overrides: list[str] | None = None,
              clip: PretrainClipConfig = EMOJI_CLIP) -> Path:
    """Build the data, pretrain the CLIP and fit ``emoji-cpu``; returns the last checkpoint."""
    from ..training.fit import fit
    from ..training.recipe import load_recipe

    out = Path(out_dir)
    shards = build_emoji_data(out / "data")
    trained = pretrain_clip(str(shards[32]), out / "clip", clip)
    print(format_scores(trained.scores))
    settings = [f"data.urls={shards[32]}", f"run.dir={out}", f"model.generator.text_encoder.model={trained.spec}",
                f"model.discriminator.feature_network.model={trained.spec}", f"loss.clip_model={trained.spec}"]
    fit(load_recipe("emoji-cpu", settings + list(overrides or [])))
    return out / "checkpoints" / "last.ckpt"


def ship(checkpoint: str | Path, folder: str | Path, *, dtype: torch.dtype = torch.float16) -> Path:
    """Write the checkpoint's EMA generator to ``folder`` with its text tower stored by value (see module doc)."""
    from ..persistence import read_generator_and_info

    G, info = read_generator_and_info(checkpoint)
    source = {"kind": "emoji-cpu", "recipe": "emoji-cpu", "images_seen": info.get("images_seen"),
              "data": "Noto Color Emoji renders (SIL OFL 1.1) captioned with Unicode CLDR names"}
    return ship_generator(G, folder, dtype=dtype, source=source)


def ship_generator(G, folder: str | Path, *, dtype: torch.dtype = torch.float16, source: dict | None = None) -> Path:
    """:func:`ship` for a generator in memory (its text tower retagged as ``stylegan-t-tiny``, stored by value)."""
    from ..persistence import write_pretrained

    te = G.config.text_encoder
    G.config = dataclasses.replace(G.config, text_encoder=dataclasses.replace(te, model=TOWER_ARCH, pretrained=None))
    G.text_encoder.by_reference = False  # the trained tower's tensors go into the file
    return write_pretrained(folder, G, dtype=dtype, source=source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylegan_t.demo.emoji_run", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="recipe overrides, e.g. run.total_kimg=100")
    parser.add_argument("--out", default="runs/emoji")
    parser.add_argument("--ship", default=None, metavar="CKPT", help="instead of a run: export this checkpoint")
    parser.add_argument("--to", default=None, metavar="DIR", help="folder for --ship")
    args = parser.parse_args(argv)
    if args.ship:
        if not args.to:
            parser.error("--ship needs --to DIR")
        print(f"wrote {ship(args.ship, args.to)}")
        return 0
    print(f"last checkpoint: {run_emoji(out_dir=args.out, overrides=args.overrides)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
