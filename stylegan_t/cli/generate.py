"""``stylegan-t generate PATH --prompt P [--prompt P2 ...] --seeds 0-7 --truncation 0.8 --outdir DIR [--grid FILE]``.

Writes one PNG per (prompt, seed) as ``DIR/<prompt index>-<prompt slug>-seed<seed>.png`` and, with
``--grid``, one image with a row per prompt and a column per seed.
"""
from __future__ import annotations

import argparse
import re

from ..latents import parse_seeds
from ..precision import PRECISION_HELP, PRECISIONS
from ..utils.files import check_writable_dir, check_writable_file
from .checks import check_device, finite_float


def seeds_arg(text: str) -> list[int]:
    try:
        return parse_seeds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err))


def slug(text: str, max_len: int = 40) -> str:
    """A file-name-safe short form of a prompt."""
    s = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return s[:max_len].rstrip("_") or "prompt"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with ``stylegan-t interpolate``."""
    parser.add_argument("path", nargs="?", default=None,
                        help="training checkpoint (.ckpt), export (.safetensors) or pretrained folder")
    parser.add_argument("--model", default=None, metavar="NAME",
                        help="a model shipped with stylegan_t instead of PATH: emoji (Noto Color Emoji, 32x32)")
    parser.add_argument("--truncation", type=finite_float, default=1.0, metavar="PSI",
                        help="truncation psi on the z-part (default 1.0 = none)")
    parser.add_argument("--noise-mode", default="const", choices=("const", "random", "none"), help="synthesis noise (default const)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    parser.add_argument("--text-encoder", default=None, metavar="MODEL",
                        help="override the stored open_clip spec, e.g. local-dir:/moved/folder")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--prompt", action="append", required=True, help="text prompt (repeat for several)")
    parser.add_argument("--style", action="append", default=[], metavar="SUFFIX",
                        help="style variation appended to every prompt as ', SUFFIX' (repeat; e.g. 'oil painting')")
    parser.add_argument("--seeds", type=seeds_arg, default=[0], help="seeds, e.g. 0-7,10,12 (default 0)")
    parser.add_argument("--outdir", required=True, help="folder for the PNG files")
    parser.add_argument("--grid", default=None, metavar="FILE", help="also write a grid image (rows: prompts, columns: seeds)")
    parser.add_argument("--grid-scale", type=int, default=1, metavar="N",
                        help="enlarge the grid N times, pixels kept sharp (default 1; e.g. 4 for 32x32 models)")


def check_common_arguments(args: argparse.Namespace) -> None:
    """Options shared with ``interpolate``, checked before the model is loaded."""
    from ..errors import UserError

    if (args.path is None) == (args.model is None):
        raise UserError("give either a model file (PATH) or --model NAME, e.g. --model emoji")
    if args.model is not None:
        from pathlib import Path

        from ..weights import SHIPPED, shipped_model

        if args.model not in SHIPPED and Path(args.model).exists():
            raise UserError(f"--model takes a shipped model's name ({', '.join(sorted(SHIPPED))}); give the model "
                            f"'{args.model}' without --model, as PATH")
        shipped_model(args.model)  # an unknown name fails here, in one line
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    check_device(args.device)


def load_pipeline(args: argparse.Namespace, command: str):
    """The pipeline for ``args.path`` (a missing, foreign or damaged file raises ``CheckpointError``: one line)."""
    from ..pipeline import load
    from ..weights import shipped_model

    path = shipped_model(args.model) if args.model is not None else args.path
    pipe = load(path, device=args.device, text_encoder=args.text_encoder, precision=args.precision)
    print(pipe.resolve_precision(args.batch_size).describe())
    return pipe


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..pipeline import image_grid

    prompts = [p for p in args.prompt]
    if args.style:
        prompts = [f"{p}, {s}" for p in prompts for s in args.style]
    check_common_arguments(args)
    outdir = check_writable_dir(args.outdir, option="--outdir")  # before anything is generated
    if args.grid:
        check_writable_file(args.grid, option="--grid")
    if not 1 <= args.grid_scale <= 32:
        from ..errors import UserError

        raise UserError(f"--grid-scale must be between 1 and 32, got {args.grid_scale}")
    pipe = load_pipeline(args, "generate")
    print(f"loaded {args.path or args.model}: {pipe}")
    images = pipe(
        prompts, seeds=args.seeds, truncation_psi=args.truncation, noise_mode=args.noise_mode,
        batch_size=args.batch_size, progress=True,
    )
    outdir.mkdir(parents=True, exist_ok=True)
    i = 0
    for p_idx, prompt in enumerate(prompts):
        for seed in args.seeds:
            images[i].save(outdir / f"{p_idx:02d}-{slug(prompt)}-seed{seed:04d}.png")
            i += 1
    print(f"wrote {len(images)} images ({_plural(len(prompts), 'prompt')} x {_plural(len(args.seeds), 'seed')}, "
          f"{pipe.generator.img_resolution}x{pipe.generator.img_resolution}) to {outdir}")
    if args.grid:
        grid_path = Path(args.grid)
        grid_path.parent.mkdir(parents=True, exist_ok=True)
        grid = image_grid(images, cols=len(args.seeds))
        if args.grid_scale > 1:
            from PIL import Image

            grid = grid.resize((grid.size[0] * args.grid_scale, grid.size[1] * args.grid_scale), Image.Resampling.NEAREST)
        grid.save(grid_path)
        print(f"wrote grid {grid_path} ({len(prompts)} rows x {len(args.seeds)} columns, {grid.size[0]}x{grid.size[1]})")
    return 0
