"""The rotated-shapes check, step by step, as a user of the own-data path runs it (docs/own-data.md).

    python -m stylegan_t.demo.shapes_run images runs/shapes/images        # 8192 PNGs + .txt captions
    stylegan-t make-shards runs/shapes/images runs/shapes/shards --shard-size 1024 --resolution 32
    stylegan-t pretrain-clip runs/shapes/shards runs/shapes/clip
    stylegan-t fit own-data-cpu data.urls=runs/shapes/shards run.dir=runs/shapes \\
        model.generator.text_encoder.model=local-dir:runs/shapes/clip \\
        model.discriminator.feature_network.model=local-dir:runs/shapes/clip loss.clip_model=local-dir:runs/shapes/clip
    python -m stylegan_t.demo.shapes_run detector runs/shapes/detector     # the independent reader
    python -m stylegan_t.demo.shapes_run score runs/shapes/checkpoints/last.ckpt --detector runs/shapes/detector

``score`` generates 18 (colour, shape) prompts x 16 held-out seeds twice, once in training wordings and once in
wordings no caption uses, and reads them with the CNN (:func:`stylegan_t.metrics.prompt_alignment.prompt_alignment`).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..latents import seed_latents
from ..metrics.prompt_alignment import format_report, heldout_seeds, prompt_alignment
from . import shape_cnn
from .rotated_shapes import ATTRIBUTES, evaluation_prompts, write_image_folder


def score(G: torch.nn.Module, detect, *, out_dir: str | Path | None = None) -> dict:
    """Alignment reports of ``G`` in training wordings and in held-out wordings (288 prompts each)."""

    def generate(prompts: list[str], seeds: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return G(seed_latents(seeds, G.z_dim), prompts, noise_mode="const")

    reports = {}
    for name, heldout in (("training wording", False), ("held-out wording", True)):
        prompts = evaluation_prompts(heldout=heldout)
        sub = None if out_dir is None else Path(out_dir) / name.replace(" ", "-")
        reports[name] = prompt_alignment(generate, prompts, heldout_seeds(len(prompts)), detect=detect, attributes=ATTRIBUTES,
                                         detector="stylegan_t.demo.shape_cnn", out_dir=sub)
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylegan_t.demo.shapes_run", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    images = sub.add_parser("images", help="write the data set as an image folder with .txt captions")
    images.add_argument("out")
    images.add_argument("--num", type=int, default=8192)
    detector = sub.add_parser("detector", help="train the independent CNN reader on fresh renders")
    detector.add_argument("out")
    scoring = sub.add_parser("score", help="score a checkpoint with the CNN reader")
    scoring.add_argument("checkpoint")
    scoring.add_argument("--detector", required=True)
    scoring.add_argument("--out", help="folder for alignment.json / alignment.png per wording")
    args = parser.parse_args(argv)
    if args.step == "images":
        write_image_folder(args.out, args.num)
    elif args.step == "detector":
        start = time.perf_counter()
        model, accuracy = shape_cnn.train_shape_cnn()
        shape_cnn.save(model, args.out, accuracy)
        print(f"reader accuracy on 1024 renders it never saw: colour {accuracy['color']:.1%}, shape {accuracy['shape']:.1%} "
              f"(trained in {time.perf_counter() - start:.0f} s)")
    else:
        from ..persistence.reader import read_generator_and_info

        G, info = read_generator_and_info(args.checkpoint)
        reports = score(G.eval(), shape_cnn.reader(shape_cnn.load(args.detector)), out_dir=args.out)
        print(f"{args.checkpoint}: {info['images_seen'] / 1000:.1f} kimg")
        for name, report in reports.items():
            print(f"\n[{name}]\n{format_report(report)}")
        if args.out:
            summary = {name: {"accuracy": r["accuracy"], "all_correct": r["all_correct"]} for name, r in reports.items()}
            (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
