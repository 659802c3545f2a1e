"""``stylegan-t check-shards URLS``: per shard, how many samples are usable, unreadable or caption-less."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("urls", nargs="+", help="shards: brace patterns, globs, folders of .tar, pipe:/http(s)/s3 URLs")
    parser.add_argument("--caption-key", default="txt", help="'txt' (default) or 'json:<field>', as in data.caption_key")
    parser.add_argument("--min-size", type=int, default=8, help="images whose shorter side is below this count as unreadable")
    parser.add_argument("--workers", type=int, default=1, help="shards checked in parallel processes")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the full per-shard report as JSON")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when any sample is unreadable or caption-less "
                                                             "(a damaged shard always exits 2)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..data.shard_check import check_shards
    from ..errors import UserError
    from ..utils.files import check_writable_file

    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.json:
        check_writable_file(args.json, option="--json")  # before the shards are read
    try:
        reports = check_shards(args.urls, caption_key=args.caption_key, min_size=args.min_size, workers=args.workers)
    except ValueError as err:
        raise UserError(str(err)) from err
    width = min(max(len(r.url) for r in reports), 60)
    print(f"{'shard':<{width}}  {'samples':>7}  {'ok':>7}  {'unreadable':>10}  {'no_caption':>10}  error")
    for r in reports:
        name = r.url if len(r.url) <= width else "..." + r.url[-(width - 3):]
        print(f"{name:<{width}}  {r.samples:>7}  {r.ok:>7}  {r.unreadable:>10}  {r.no_caption:>10}  {r.error or ''}")
        for problem in r.problems[:3]:
            print(f"    {problem}")
    total = {k: sum(getattr(r, k) for r in reports) for k in ("samples", "ok", "unreadable", "no_caption")}
    broken = sum(r.error is not None for r in reports)
    print(f"total: {len(reports)} shard(s), {total['samples']} samples: {total['ok']} ok, {total['unreadable']} "
          f"unreadable, {total['no_caption']} without caption; {broken} shard(s) with read errors")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([r.as_dict() for r in reports], f, indent=1)
    if broken:  # a damaged shard is an error whatever --strict says (training would lose its samples)
        first = next(r for r in reports if r.error is not None)
        raise UserError(f"{broken} shard(s) damaged, e.g. '{first.url}': {first.error[:120]}; "
                        "copy or make them again (`stylegan-t make-shards`)")
    bad = total["unreadable"] or total["no_caption"]
    return 1 if args.strict and bad else 0
