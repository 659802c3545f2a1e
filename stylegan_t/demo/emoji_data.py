"""Build the emoji data set: renders, captions and WebDataset shards of the training names.

    python -m stylegan_t.demo.emoji_data --out runs/emoji/data [--resolution 64 32] [--limit N]

For each resolution, ``images-R/<code points>.png`` holds every emoji's render, ``train-R.jsonl`` the training
pairs (image, caption, name, group, subgroup) and ``shards-R/`` the shards written from that table by
:func:`stylegan_t.data.shard_tools.make_shards` (the writer behind ``stylegan-t make-shards``).
``names.json`` lists the training and held-out names with their groups; held-out names have renders
(the judge compares against them) but no shard sample. A ``manifest.json`` written last lets a second call
with the same settings and font return at once.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .emoji import Emoji, catalogue, font_path, is_heldout, render, sample_rows, split

FORMAT_VERSION = 1  # bump when renders, captions or the split change
MANIFEST = "manifest.json"


def _params(emojis: list[Emoji], resolutions: tuple[int, ...], shard_size: int) -> dict:
    font = font_path()
    return {"format_version": FORMAT_VERSION, "resolutions": list(resolutions), "shard_size": shard_size,
            "font_size_bytes": font.stat().st_size, "emoji": len(emojis)}


def names_record(emojis: list[Emoji]) -> dict:
    """``{"train": [...], "heldout": [...]}``: name, group, subgroup and code points of each side of the split."""
    train, heldout = split(emojis)

    def rows(items: list[Emoji]) -> list[dict]:
        return [{"name": e.name, "group": e.group, "subgroup": e.subgroup, "codepoints": e.codepoints} for e in items]

    return {"train": rows(train), "heldout": rows(heldout)}


def build_emoji_data(out: str | Path, *, resolutions: tuple[int, ...] = (64, 32), shard_size: int = 1024,
                     limit: int | None = None, quiet: bool = False) -> dict[int, Path]:
    """Write (or reuse) the data set in ``out``; returns ``{resolution: shard folder}``.

    ``limit`` keeps the first N emoji of the catalogue (tests, quick looks).
    """
    from ..data.shard_tools import make_shards

    out = Path(out)
    emojis = catalogue()[:limit] if limit else catalogue()
    if not emojis:
        raise ValueError("no emoji to write")
    if any(r < 8 or r > 136 for r in resolutions):
        raise ValueError(f"resolutions must be between 8 and 136 pixels, got {list(resolutions)}")
    params = _params(emojis, resolutions, shard_size)
    shard_dirs = {r: out / f"shards-{r}" for r in resolutions}
    try:
        if json.loads((out / MANIFEST).read_text()) == params and all(any(d.glob("*.tar")) for d in shard_dirs.values()):
            return shard_dirs
    except (OSError, ValueError):
        pass
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    train, _ = split(emojis)
    rows = sample_rows(train)
    for r in resolutions:
        images = out / f"images-{r}"
        images.mkdir(exist_ok=True)
        for e in emojis:
            render(e, r).save(images / f"{e.codepoints}.png")
        table = out / f"train-{r}.jsonl"
        with open(table, "w", encoding="utf-8") as f:
            for e, caption in rows:
                row = {"image": f"images-{r}/{e.codepoints}.png", "caption": caption, "name": e.name,
                       "group": e.group, "subgroup": e.subgroup}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        result = make_shards(table, shard_dirs[r], shard_size=shard_size, overwrite=True)
        if not quiet:
            print(f"{r}x{r}: {len(rows)} training pairs of {len(train)} emoji in {len(result.shards)} shards -> {shard_dirs[r]}")
    record = names_record(emojis)
    (out / "names.json").write_text(json.dumps(record, indent=1, ensure_ascii=False))
    if not quiet:
        print(f"{len(record['train'])} training names, {len(record['heldout'])} held-out names (never in a shard) -> {out / 'names.json'}")
    (out / MANIFEST).write_text(json.dumps(params, indent=1))
    return shard_dirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylegan_t.demo.emoji_data", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/emoji/data", help="output folder (default runs/emoji/data)")
    parser.add_argument("--resolution", type=int, nargs="+", default=[64, 32], help="image sizes (default 64 32)")
    parser.add_argument("--shard-size", type=int, default=1024, help="samples per shard (default 1024)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N emoji of the catalogue")
    args = parser.parse_args(argv)
    from ..errors import UserError

    try:
        build_emoji_data(args.out, resolutions=tuple(args.resolution), shard_size=args.shard_size, limit=args.limit)
    except (UserError, ValueError, OSError) as err:  # a missing font or emoji list, a bad size, a full disk: one line
        print(f"emoji_data: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0


__all__ = ["build_emoji_data", "is_heldout", "names_record"]

if __name__ == "__main__":
    raise SystemExit(main())
