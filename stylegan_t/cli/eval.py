"""``stylegan-t eval PATH --real SHARDS_OR_FOLDER --num N --metrics fid,clip_score --truncation 1.0,0.9,0.8``.

FID and CLIP score of a trained (``.ckpt``) or exported (``.safetensors``) generator over truncation values,
written to ``--out`` as ``results.json`` (one row per psi) and ``tradeoff.png`` (the FID-CLIP curve).

- Reals (``--real``): WebDataset shards (any form ``data.urls`` takes: brace pattern, glob, folder of
  ``.tar``, URL), a folder of images (recursive, captions from sidecar ``.txt`` files), or a ``.pt`` file of
  FID real statistics written by ``--save-real-stats`` / ``FID.save_real_statistics``. Every readable image
  is centre-cropped and Lanczos-resized to the evaluation resolution (the generator's, or ``--resolution``),
  as training data is; generated images at another resolution get the same resize.
- Captions: sample ``i`` is generated from caption ``i mod C`` with seed ``--seed + i``. They come from the
  real data (shard captions or sidecar ``.txt``) or from ``--captions``: a text file (one per line), a JSON
  list of strings, or an MS-COCO captions JSON (one caption per image, drawn with a fixed seed exactly as the
  zero-shot COCO recipe of docs/evaluation.md does).
- Networks load from local files only: the FID Inception (``--inception``) and an open_clip model for the
  CLIP score (``--clip-model`` / ``--clip-pretrained``). Missing files fail with one line saying how to get them.

A thin command: reals and captions are read by :mod:`stylegan_t.metrics` (``read_reals``, ``read_captions``),
the curve is :func:`stylegan_t.metrics.evaluate_tradeoff`.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from ..utils.text import comma_items

METRICS = ("fid", "clip_score")
DEFAULT_CLIP_MODEL = "ViT-g-14"
DEFAULT_CLIP_PRETRAINED = "laion2b_s12b_b42k"  # the original StyleGAN-T's CLIP-score model
FID_DIMS = (64, 192, 768, 2048)
PROG = "stylegan-t eval"


class EvalError(Exception):
    """Bad input detected by the command; printed as one line, as a :class:`~stylegan_t.errors.UserError`
    from the library it calls (a missing file, no readable reals, ...)."""


# --- argument parsing -------------------------------------------------------------------------------------


def parse_metrics(text: str) -> list[str]:
    """``"fid,clip_score"`` -> ``["fid", "clip_score"]``; unknown names raise ``ValueError`` naming the valid ones."""
    names: list[str] = []
    for part in comma_items(text):
        name = part.lower().replace("-", "_")
        if name not in names:
            names.append(name)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(repr(n) for n in unknown)}; choose from {', '.join(METRICS)}")
    if not names:
        raise ValueError(f"no metric given; choose from {', '.join(METRICS)}")
    return names


def parse_truncations(text: str) -> list[float]:
    """``"1.0,0.9,0.8"`` -> ``[1.0, 0.9, 0.8]`` (order kept: the curve joins the points in this order)."""
    values: list[float] = []
    for part in comma_items(text):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"cannot parse truncation {part!r}: give numbers separated by commas, e.g. 1.0,0.9,0.8") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"truncation psi must be a number >= 0, got {part!r}")
        if value not in values:
            values.append(value)
    if not values:
        raise ValueError("no truncation value given")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="training checkpoint (.ckpt) or export (.safetensors)")
    parser.add_argument("--real", default=None, metavar="SHARDS_OR_FOLDER",
                        help="real images: shards (brace pattern, glob, folder of .tar, URL), a folder of images with "
                             "optional sidecar .txt captions, or a .pt file of FID real statistics")
    parser.add_argument("--num", type=int, default=10000, metavar="N",
                        help="generated images per truncation value (default 10000; the paper uses 30000)")
    parser.add_argument("--num-real", type=int, default=None, metavar="N",
                        help="use at most N real images (default: all)")
    parser.add_argument("--metrics", default="fid,clip_score", help="comma-separated: fid, clip_score (default both)")
    parser.add_argument("--truncation", default="1.0", metavar="PSI[,PSI...]",
                        help="truncation psi values, e.g. 1.0,0.9,0.8 (default 1.0)")
    parser.add_argument("--captions", default=None, metavar="FILE",
                        help="captions to generate from: a text file (one per line), a JSON list of strings, or an "
                             "MS-COCO captions JSON (default: the captions of the real data)")
    parser.add_argument("--caption-key", default="txt",
                        help="caption member of the shards: 'txt' (default) or 'json:<field>', as data.caption_key")
    parser.add_argument("--inception", default=None, metavar="WEIGHTS.pth",
                        help="FID Inception weights pt_inception-2015-12-05-6726825d.pth "
                             "(default: $STYLEGAN_T_WEIGHTS or ~/.cache/stylegan_t)")
    parser.add_argument("--fid-dims", type=int, default=2048, choices=FID_DIMS,
                        help="Inception feature layer (default 2048, the standard FID; others are not comparable)")
    parser.add_argument("--clip-model", default=DEFAULT_CLIP_MODEL, metavar="NAME",
                        help=f"open_clip architecture or local-dir:/folder (default {DEFAULT_CLIP_MODEL})")
    parser.add_argument("--clip-pretrained", default=None, metavar="FILE_OR_TAG",
                        help=f"weights file, or a tag found in the weights folder as <name>-<tag>.<ext> "
                             f"(default {DEFAULT_CLIP_PRETRAINED} for {DEFAULT_CLIP_MODEL})")
    parser.add_argument("--resolution", type=int, default=None, metavar="R",
                        help="evaluation resolution (default: the generator's); reals and, if needed, generated "
                             "images are resized to RxR")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="sample i uses seed SEED + i (default 0)")
    parser.add_argument("--noise-mode", default="const", choices=("const", "random", "none"),
                        help="synthesis noise (default const)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--text-encoder", default=None, metavar="MODEL",
                        help="override the generator's stored open_clip spec, e.g. local-dir:/moved/folder")
    parser.add_argument("--save-real-stats", default=None, metavar="FILE.pt",
                        help="save the FID real statistics to reuse with --real FILE.pt")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder for results.json and tradeoff.png (default: PATH without suffix + '-eval')")


# --- the command ------------------------------------------------------------------------------------------


def default_out_dir(path: str) -> Path:
    p = Path(path)
    return p.with_name(p.stem + "-eval")


def _is_stats_file(real: str | None) -> bool:
    return bool(real and real.endswith(".pt") and Path(real).is_file())


def _validate(args: argparse.Namespace) -> tuple[list[str], list[float]]:
    from ..metrics.real_images import check_real_source

    try:
        metrics = parse_metrics(args.metrics)
        truncations = parse_truncations(args.truncation)
    except ValueError as err:
        raise EvalError(str(err)) from None
    for name in ("num", "batch_size"):
        if getattr(args, name) < 1:
            raise EvalError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.num_real is not None and args.num_real < 1:
        raise EvalError(f"--num-real must be >= 1, got {args.num_real}")
    if args.resolution is not None and args.resolution < 8:
        raise EvalError(f"--resolution must be >= 8, got {args.resolution}")
    if args.real is None and ("fid" in metrics or args.captions is None):
        needs = "FID needs real images" if "fid" in metrics else "captions come from the real data without --captions"
        raise EvalError(f"--real is required ({needs})")
    if args.real is not None:
        check_real_source(args.real)
    if _is_stats_file(args.real):
        if "fid" not in metrics:
            raise EvalError("--real FILE.pt holds FID statistics only; it needs --metrics fid (or real images)")
        if args.captions is None:
            raise EvalError("--real FILE.pt holds FID statistics but no captions: pass --captions FILE")
    return metrics, truncations


def _load_networks(args: argparse.Namespace, metrics: list[str], device):
    """(FID or None, OpenCLIPScore or None, descriptions) from local files; missing weights -> EvalError."""
    from ..metrics import FID, OpenCLIPScore, default_inception_path
    from ..utils.local_files import MissingWeightsError

    fid = clip = None
    about: dict[str, Any] = {}
    if "fid" in metrics:
        weights = args.inception or default_inception_path()
        try:
            fid = FID(weights_path=weights, num_features=args.fid_dims).to(device)
        except MissingWeightsError as err:
            raise EvalError(f"{err} (this command takes the file as --inception FILE)") from None
        except ModuleNotFoundError as err:  # torch-fidelity not installed
            raise EvalError(str(err)) from None
        about["fid_extractor"] = {"inception": str(weights), "features": args.fid_dims, "antialias": False}
        print(f"FID: standard Inception, {args.fid_dims} features, from {weights}")
    if "clip_score" in metrics:
        model, pretrained = args.clip_model, args.clip_pretrained
        folder = Path(model.removeprefix("local-dir:")).expanduser()
        if model.startswith("local-dir:") and not (folder / "open_clip_config.json").is_file():
            raise EvalError(f"--clip-model {model}: no open_clip model in '{folder}' (no open_clip_config.json); give a "
                            "folder written by `stylegan-t pretrain-clip`, or --clip-model NAME --clip-pretrained FILE")
        if pretrained is None and not model.startswith("local-dir:"):
            if model != DEFAULT_CLIP_MODEL:
                raise EvalError(f"--clip-model {model} needs --clip-pretrained FILE_OR_TAG (random CLIP weights "
                                "would make the score meaningless)")
            pretrained = DEFAULT_CLIP_PRETRAINED
        try:
            clip = OpenCLIPScore(model, pretrained).to(device)
        except MissingWeightsError as err:
            raise EvalError(f"{err} (this command takes the file as --clip-pretrained FILE)") from None
        except RuntimeError as err:  # open_clip: unknown architecture, mismatched weights
            raise EvalError(f"cannot build CLIP model {model!r}: {err}") from None
        about["clip_model"] = {"model": model, "pretrained": pretrained}
        print(f"CLIP score: open_clip {model}" + (f" ({pretrained})" if pretrained else ""))
    return fid, clip, about


def _read_reals(args: argparse.Namespace, fid, captions: list[str] | None, resolution: int):
    """FID real statistics and/or captions from ``--real`` (a statistics file, or one pass over the reals)."""
    from ..metrics import RealData, read_reals
    from ..utils.progress import progress

    data = RealData()
    if _is_stats_file(args.real):
        try:
            fid.load_real_statistics(args.real)
        except Exception as err:  # noqa: BLE001  (any unreadable or mismatched statistics file)
            raise EvalError(f"cannot use FID real statistics '{args.real}': {err}") from None
        data.counts.images = fid.num_real
        print(f"real statistics: {fid.num_real} images from {args.real}")
        return data
    if args.real is None or (fid is None and captions is not None):
        if args.real is not None:
            print(f"note: --real {args.real} is not read (no FID, captions from --captions)")
        return data
    want_captions = captions is None
    limit = args.num_real if fid is not None else args.num  # captions beyond N are never used
    what = f"real images ({resolution}x{resolution})" if fid is not None else "real captions"
    with progress(limit, desc=what, unit="img") as bar:
        data = read_reals(args.real, resolution=resolution, fid=fid, want_captions=want_captions, limit=limit,
                          batch_size=args.batch_size, caption_key=args.caption_key, on_sample=lambda: bar.update(1))
    counts = data.counts
    parts = [f"{counts.images} real images" if fid is not None else f"{counts.captions} captions",
             f"{counts.unreadable} unreadable skipped"]
    if want_captions:
        parts.append(f"{counts.no_caption} without caption")
    if counts.shard_errors:
        parts.append(f"{counts.shard_errors} shard errors")
    print(f"read {args.real}: " + ", ".join(parts))
    if fid is not None and args.save_real_stats:
        fid.save_real_statistics(args.save_real_stats)
        print(f"saved FID real statistics to {args.save_real_stats}")
    return data


def _generator(pipe, args: argparse.Namespace, resolution: int):
    """``generate(captions, seeds, psi)`` -> uint8 images at the evaluation resolution, with a bar per psi."""
    from ..metrics import metric_uint8, resize_like_reals
    from ..utils.progress import progress

    bars: dict[float, Any] = {}

    def generate(batch_captions: list[str], seeds: list[int], psi: float):
        bar = bars.get(psi) or bars.setdefault(psi, progress(args.num, desc=f"psi={psi:g}", unit="img"))
        images = metric_uint8(pipe(batch_captions, seeds, truncation_psi=psi, noise_mode=args.noise_mode,
                               output_type="tensor", pairing="zip", batch_size=len(seeds)))
        if images.shape[-1] != resolution or images.shape[-2] != resolution:
            images = resize_like_reals(images, resolution)
        bar.update(len(seeds))
        if bar.n >= args.num:
            bar.close()
        return images

    return generate


def _evaluate(args: argparse.Namespace) -> int:
    from ..metrics import evaluate_tradeoff, plot_tradeoff, read_captions, save_results_json
    from ..pipeline import load

    metrics, truncations = _validate(args)
    captions: list[str] | None = None
    captions_source = "real data"
    if args.captions:
        captions, kind = read_captions(args.captions)
        captions_source = f"{args.captions} ({kind})"
    pipe = load(args.path, device=args.device, text_encoder=args.text_encoder)
    gen_res = pipe.generator.img_resolution
    resolution = args.resolution or gen_res
    print(f"loaded {args.path}: {pipe}")
    fid, clip, about = _load_networks(args, metrics, pipe.device)
    reals = _read_reals(args, fid, captions, resolution)
    captions = captions if captions is not None else reals.captions
    print(f"captions: {len(captions)} from {captions_source}; {args.num} samples per truncation, seeds "
          f"{args.seed}..{args.seed + args.num - 1}")
    if fid is not None and args.num <= args.fid_dims:
        print(f"note: FID from {args.num} samples (<= {args.fid_dims} features) is strongly biased; compare only "
              "numbers computed with the same N (the paper uses 30000)")
    result = evaluate_tradeoff(
        _generator(pipe, args, resolution), captions=captions, num_samples=args.num, truncations=truncations,
        fid=fid, clip_score=clip, batch_size=args.batch_size, seed=args.seed, log=print,
    )
    out = Path(args.out) if args.out else default_out_dir(args.path)
    json_path = save_results_json(
        result, out / "results.json", checkpoint=str(args.path), real=args.real, real_counts=reals.counts.as_dict(),
        captions=captions_source, num_captions=len(captions), resolution=resolution, generator_resolution=gen_res,
        noise_mode=args.noise_mode, **about,
    )
    try:
        png_path = plot_tradeoff(result, out / "tradeoff.png")
    except (ValueError, ZeroDivisionError) as err:  # e.g. no finite value, or values equal to ~1e-10
        print(f"wrote {json_path}; could not draw {out / 'tradeoff.png'}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"wrote {json_path} and {png_path}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError

    try:
        return _evaluate(args)
    except (EvalError, UserError) as err:
        raise SystemExit(f"{PROG}: " + " ".join(str(err).split()))  # one line, whatever the message's layout
