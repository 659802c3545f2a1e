"""``stylegan-t pretrain-clip SHARDS OUT [options]``: train a small CLIP on image-text shards, offline.

The output folder is an open_clip ``local-dir:`` model for a recipe's text encoder, discriminator feature
network and guidance CLIP. Run again with the same settings and shards, it reuses the saved model.
"""
from __future__ import annotations

import argparse
import sys

from ..clip_pretraining.config import AUTO_MAX_STEPS, AUTO_MIN_STEPS, AUTO_PASSES, PretrainClipConfig

_DEFAULTS = PretrainClipConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", help="shards written by `stylegan-t make-shards`: a folder of .tar files, a brace pattern or a glob")
    parser.add_argument("out", help="output folder (open_clip_config.json, open_clip_model.safetensors, pretrain_clip.json)")
    parser.add_argument("--model", default=_DEFAULTS.model,
                        help=f"open_clip architecture (default {_DEFAULTS.model}: a small ViT for 32x32 images; "
                             "stylegan-t-tiny-conv: a small ResNet image tower, which reads shape from fewer images)")
    parser.add_argument("--steps", type=int, default=_DEFAULTS.steps,
                        help=f"optimizer steps (default: {AUTO_PASSES} passes over the training samples, "
                             f"{AUTO_MIN_STEPS} to {AUTO_MAX_STEPS} steps)")
    parser.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size,
                        help=f"image-caption pairs per step; larger gives more negatives (default {_DEFAULTS.batch_size})")
    parser.add_argument("--lr", type=float, default=_DEFAULTS.lr, help=f"peak AdamW learning rate (default {_DEFAULTS.lr:g})")
    parser.add_argument("--weight-decay", type=float, default=_DEFAULTS.weight_decay)
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument("--holdout-fraction", type=float, default=_DEFAULTS.holdout_fraction,
                        help=f"share of samples kept out of training for the retrieval score (default {_DEFAULTS.holdout_fraction:g})")
    parser.add_argument("--eval-samples", type=int, default=_DEFAULTS.eval_samples,
                        help=f"held-out samples scored at the end (default {_DEFAULTS.eval_samples})")
    parser.add_argument("--caption-key", default=_DEFAULTS.caption_key, help="caption member: txt, json:field or another name")
    parser.add_argument("--workers", type=int, default=_DEFAULTS.num_workers, help="data loader processes (default 0: decode in-process)")
    parser.add_argument("--attribute", action="append", default=[], metavar="NAME=V1,V2,...",
                        help="words your captions use for one attribute, e.g. shape=circle,square,triangle (repeat per "
                             "attribute): after training, a readiness report says whether the CLIP's image and text "
                             "features separate them")
    parser.add_argument("--force", action="store_true", help="train again even if OUT holds a model trained alike")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..clip_pretraining import PretrainClipConfig, format_scores, pretrain_clip
    from ..clip_pretraining.readiness import format_readiness, readiness, save_readiness
    from ..clip_pretraining.word_check import parse_attribute
    from ..errors import UserError

    try:
        attributes = dict(parse_attribute(a) for a in args.attribute)
        cfg = PretrainClipConfig(
            model=args.model, steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
            seed=args.seed, holdout_fraction=args.holdout_fraction, eval_samples=args.eval_samples,
            caption_key=args.caption_key, num_workers=args.workers,
        )
        result = pretrain_clip(args.shards, args.out, cfg, progress=not args.no_progress, force=args.force)
    except UserError as err:
        print(f"stylegan-t pretrain-clip: {err}", file=sys.stderr)
        return 2
    if result.reused:
        print(f"{args.out} already holds a CLIP trained with these settings on these shards: reused (--force retrains)")
    else:
        print(f"trained {result.steps} steps in {result.seconds:.0f} s, final contrastive loss {result.final_loss:.3f}")
    print(format_scores(result.scores) if result.scores else "no held-out samples: no retrieval score (raise --holdout-fraction)")
    print(f"Use it in a recipe as text encoder, feature network and guidance CLIP: model: {result.spec}")
    if attributes:
        try:
            report = readiness(args.out, args.shards, attributes)
        except UserError as err:
            print(f"stylegan-t pretrain-clip: readiness report: {err}", file=sys.stderr)
            return 2
        save_readiness(args.out, report)
        print(format_readiness(report))
    return 0
