"""``stylegan-t word-check CKPT --clip DIR --shards DIR --attribute NAME=V1,V2 --template T``: does a generator
draw the words of its prompts? The reader is the pretrained CLIP's image features (:mod:`stylegan_t.clip_pretraining.word_check`)."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a training checkpoint (.ckpt) or an export (.safetensors)")
    parser.add_argument("--clip", required=True, help="the folder `stylegan-t pretrain-clip` wrote")
    parser.add_argument("--shards", required=True, help="the shards it was trained on (its held-out split is used)")
    parser.add_argument("--attribute", action="append", required=True, metavar="NAME=V1,V2,...", help="repeat per attribute")
    parser.add_argument("--template", required=True, help='prompt template, e.g. "a {color} {shape}"')
    parser.add_argument("--num", type=int, default=96, help="prompts (one seed each; default 96)")
    parser.add_argument("--out", default=None, help="folder for alignment.json and alignment.png")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..clip_pretraining.word_check import fit_word_probe, parse_attribute, template_prompts
    from ..metrics.prompt_alignment import format_report, heldout_seeds, prompt_alignment
    from ..pipeline import load

    attributes = dict(parse_attribute(a) for a in args.attribute)
    prompts = template_prompts(args.template, attributes, args.num)
    probe = fit_word_probe(args.clip, args.shards, attributes)
    pipe = load(args.checkpoint, device="cpu")
    print("Reader (nearest CLIP-feature centroid) on held-out real images:")
    for a, accuracy in probe.real_accuracy.items():
        print(f"  {a:<16}{accuracy:>8.1%}  ({probe.real_samples[a]} images, chance {1 / len(attributes[a]):.1%})")

    def generate(texts: list[str], seeds: list[int]) -> torch.Tensor:
        return pipe(texts, seeds, pairing="zip", output_type="tensor")

    report = prompt_alignment(generate, prompts, heldout_seeds(len(prompts)), detect=probe.detect, attributes=attributes,
                              detector=f"CLIP centroids ({args.clip})", out_dir=args.out)
    print(format_report(report))
    return 0
