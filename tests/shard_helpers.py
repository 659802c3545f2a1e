"""Write WebDataset test shards: valid image-text samples plus every kind of bad input the pipeline must survive.

``write_test_shards(folder, num_shards=4, samples_per_shard=8)`` writes ``00000.tar .. 00003.tar`` (each with
a ``_stats.json``) and, with ``include_bad=True``, six bad samples inside shard 0 and an empty ``99999.tar``.
What the pipeline must make of them (default ``data`` settings: ``caption_key="txt"``, ``min_image_size=8``):

=================  ===========================================  =======================
bad sample         content                                      outcome
=================  ===========================================  =======================
truncated_jpeg     first half of a JPEG                         skipped (unreadable)
one_pixel          a 1x1 PNG                                    skipped (too small)
no_caption         a good PNG, no ``.txt``/``.json``             dropped (no caption)
grayscale_png      mode L, 30x40                                kept (-> RGB)
png16              16-bit grayscale ramp                        kept (rescaled)
rgba               fully transparent red                        kept (-> white)
(empty tar)        ``99999.tar`` without members                nothing, no error
=================  ===========================================  =======================

So ``num_shards * samples_per_shard + 3`` usable samples, 2 skipped, 1 dropped. The bad samples sit *before*
the last valid sample of shard 0, so any pass that consumes every usable sample has met all of them: counts
are exact whatever the shard order. Every sample with a caption also has ``<key>.json`` with ``{"caption":
..., "meta": {"caption": ...}}``, so ``caption_key="json:caption"`` gives the same captions and counts.
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 20)}
FORMATS = (("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"))

BAD_SAMPLES = ("truncated_jpeg", "no_caption", "grayscale_png", "png16", "rgba", "one_pixel")
#: bad samples the pipeline keeps (decoded to RGB), skips (corrupt) or drops (no caption)
KEPT_BAD = ("grayscale_png", "png16", "rgba")
SKIPPED_BAD = ("truncated_jpeg", "one_pixel")
DROPPED_BAD = ("no_caption",)


def image_bytes(img: Image.Image, fmt: str = "PNG", **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _json_caption(caption: str) -> bytes:
    return json.dumps({"caption": caption, "meta": {"caption": caption}}).encode()


def valid_sample(index: int, size: int = 24) -> tuple[dict[str, bytes], str]:
    """A solid-colour, slightly wide image whose caption names its index and colour; jpg/png/webp rotate."""
    name = list(COLORS)[index % len(COLORS)]
    img = Image.new("RGB", (size + index % 5, size), COLORS[name])
    caption = f"sample {index}: a {name} square"
    ext, fmt = FORMATS[index % len(FORMATS)]
    extra = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    return {ext: image_bytes(img, fmt, **extra), "txt": caption.encode(), "json": _json_caption(caption)}, caption


def bad_sample(kind: str) -> dict[str, bytes]:
    caption = f"a {kind} image"
    members = {"txt": caption.encode(), "json": _json_caption(caption)}
    if kind == "truncated_jpeg":
        data = image_bytes(Image.new("RGB", (32, 32), (10, 200, 30)), "JPEG")
        return {"jpg": data[: len(data) // 2], **members}
    if kind == "no_caption":
        return {"png": image_bytes(Image.new("RGB", (32, 32), (1, 2, 3)))}
    if kind == "grayscale_png":
        return {"png": image_bytes(Image.new("L", (30, 40), 128)), **members}
    if kind == "png16":
        arr = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).astype(np.uint16)
        return {"png": image_bytes(Image.fromarray(arr)), **members}
    if kind == "rgba":
        return {"png": image_bytes(Image.new("RGBA", (32, 32), (255, 0, 0, 0))), **members}
    if kind == "one_pixel":
        return {"png": image_bytes(Image.new("RGB", (1, 1), (9, 9, 9))), **members}
    raise ValueError(kind)


class ShardSet(list):
    """The shard paths written (a ``list[str]``), with what a test needs to check the outcome.

    Attributes: ``folder``, ``pattern`` (brace pattern of the numbered shards, without the empty tar),
    ``captions`` (every caption that must come out), ``num_valid`` / ``num_skipped`` / ``num_dropped``.
    ``shards["folder"]``-style access also works (older tests index it like a dict).
    """

    folder: str
    pattern: str
    captions: list[str]
    num_valid: int
    num_skipped: int
    num_dropped: int

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str):
            return list(self) if index == "shards" else getattr(self, index)
        return super().__getitem__(index)


def write_test_shards(
    folder: str | Path, *, num_shards: int = 4, samples_per_shard: int = 8, resolution: int = 24, include_bad: bool = True
) -> ShardSet:
    """Shards ``00000.tar ...`` of ``samples_per_shard`` valid samples (images about ``resolution`` px); with
    ``include_bad`` the bad samples of the table above in shard 0 and an empty ``99999.tar``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, captions, index = [], [], 0
    for s in range(num_shards):
        path = folder / f"{s:05d}.tar"
        entries: list[tuple[str, dict[str, bytes]]] = []
        for _ in range(samples_per_shard):
            members, caption = valid_sample(index, resolution)
            entries.append((f"{index:06d}", members))
            captions.append(caption)
            index += 1
        if include_bad and s == 0:
            bad = [(f"bad_{kind}", bad_sample(kind)) for kind in BAD_SAMPLES]
            at = min(1, len(entries) - 1) if entries else 0
            entries[at:at] = bad  # before the last valid sample of the shard
            captions += [f"a {kind} image" for kind in KEPT_BAD]
        with tarfile.open(path, "w") as tar:
            for key, members in entries:
                for ext, data in members.items():
                    add_member(tar, f"{key}.{ext}", data)
        stats = {"count": len(entries), "successes": len(entries), "failed_to_download": 0, "failed_to_resize": 0}
        (folder / f"{s:05d}_stats.json").write_text(json.dumps(stats))
        paths.append(str(path))
    if include_bad:
        with tarfile.open(folder / "99999.tar", "w"):
            pass
        paths.append(str(folder / "99999.tar"))
    out = ShardSet(paths)
    out.folder = str(folder)
    out.pattern = str(folder / ("{00000..%05d}.tar" % (num_shards - 1)))
    out.captions = captions
    out.num_valid = len(captions)
    out.num_skipped = len(SKIPPED_BAD) if include_bad else 0
    out.num_dropped = len(DROPPED_BAD) if include_bad else 0
    return out
