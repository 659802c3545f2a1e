"""``stylegan-t make-shards SRC DEST --shard-size N [--resolution R]``: image-caption pairs to WebDataset shards."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="a folder of images with sidecar .txt captions, a .csv/.tsv/.jsonl with path and "
                                    "caption columns, or a COCO captions .json")
    parser.add_argument("dest", help="output folder for 00000.tar, 00000_stats.json, ...")
    parser.add_argument("--shard-size", type=int, default=10000, help="samples per shard (default 10000)")
    parser.add_argument("--resolution", type=int, default=None,
                        help="store images center-cropped and resized to RxR (default: original bytes)")
    parser.add_argument("--images", default=None, help="image folder for relative table paths / COCO file names")
    parser.add_argument("--path-column", default=None, help="table column with the image path (default: guessed)")
    parser.add_argument("--caption-column", default=None, help="table column with the caption (default: guessed)")
    parser.add_argument("--min-size", type=int, default=8, help="leave out images whose shorter side is below this")
    parser.add_argument("--no-verify", action="store_true", help="do not fully decode images that are copied as-is")
    parser.add_argument("--overwrite", action="store_true", help="replace shards already in DEST")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.shard_tools import make_shards
    from ..errors import UserError
    from ..utils.files import check_writable_dir

    if args.shard_size < 1:
        raise UserError(f"--shard-size must be >= 1, got {args.shard_size}")
    if args.resolution is not None and args.resolution < 1:
        raise UserError(f"--resolution must be >= 1, got {args.resolution}")
    if not Path(args.src).exists():
        raise UserError(f"SRC '{args.src}' does not exist")
    check_writable_dir(args.dest, option="DEST")  # before any image is read
    try:
        result = make_shards(
            args.src, args.dest, shard_size=args.shard_size, resolution=args.resolution, images=args.images,
            path_column=args.path_column, caption_column=args.caption_column, min_size=args.min_size,
            verify=not args.no_verify, overwrite=args.overwrite,
        )
    except (ValueError, FileExistsError, FileNotFoundError) as err:  # bad source table, shards already there, ...
        raise UserError(str(err)) from err
    if not result.written:
        raise UserError(f"no usable image-caption pair in '{args.src}' ({result.unreadable} unreadable, "
                        f"{result.no_caption} without caption); each image needs a caption, e.g. cat.jpg + cat.txt")
    print(f"{args.dest}: {result.summary()}")
    return 0
