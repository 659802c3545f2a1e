"""Make img2dataset-style WebDataset shards (docs/data.md); :mod:`.shard_check` reads them back.

``make_shards`` reads image-caption pairs from a folder of images with sidecar ``.txt`` files, a CSV/TSV or
JSONL table with path and caption columns, or a COCO captions JSON plus its image folder, and writes
``00000.tar, 00001.tar, ...`` holding ``<key>.jpg|png|webp`` + ``<key>.txt`` + ``<key>.json`` with a
``00000_stats.json`` beside each. ``check_shards`` reads shards back the way training does and reports,
per shard, how many samples are usable, unreadable or caption-less.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import tarfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .decode import CorruptSample, center_crop_resize, open_image
from .folder import find_captioned_images
from .tarfiles import add_member, atomic_tar

PATH_COLUMNS = ("path", "image", "image_path", "filepath", "file", "filename", "file_name")
CAPTION_COLUMNS = ("caption", "text", "txt", "prompt", "title")
FORMAT_EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass
class Item:
    """One input pair: image file, caption (None = missing) and metadata for ``<key>.json``."""

    path: Path
    caption: str | None
    meta: dict[str, Any] = field(default_factory=dict)


# --- inputs ---------------------------------------------------------------------------------------------


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, src: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"{src}: no column {wanted!r} (columns: {columns})")
        return wanted
    lower = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lower:
            return lower[name]
    raise ValueError(f"{src}: no {what} column among {columns}; name one of {list(candidates)} or pass it explicitly")


def iter_table(
    src: Path, *, images: Path | None = None, path_column: str | None = None, caption_column: str | None = None
) -> Iterator[Item]:
    """Rows of a CSV/TSV (header row) or JSONL file; relative paths resolve against ``images`` or the file's folder."""
    root = images or src.parent
    if src.suffix.lower() == ".jsonl":
        rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
        columns = sorted({k for row in rows for k in row})
    else:
        with open(src, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter="\t" if src.suffix.lower() == ".tsv" else ",")
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    pcol = _pick(columns, path_column, PATH_COLUMNS, "image path", src)
    ccol = _pick(columns, caption_column, CAPTION_COLUMNS, "caption", src)
    for row in rows:
        path = Path(str(row.get(pcol) or "")).expanduser()
        caption = row.get(ccol)
        meta = {k: v for k, v in row.items() if k not in (pcol, ccol)}
        yield Item(path if path.is_absolute() else root / path, None if caption is None else str(caption), meta)


def _coco_images_dir(src: Path, images: Path | None) -> Path:
    if images is not None:
        return images
    split = src.stem.split("_")[-1]  # captions_val2014.json -> val2014
    for candidate in (src.parent.parent / split, src.parent / split, src.parent / "images"):
        if candidate.is_dir():
            return candidate
    raise ValueError(f"{src}: cannot find the COCO image folder (tried ../{split}, ./{split}, ./images); pass images=")


def iter_coco(src: Path, *, images: Path | None = None) -> Iterator[Item]:
    """One item per COCO image: ``.txt`` = its first caption (lowest annotation id), ``.json`` keeps them all."""
    data = json.loads(src.read_text(encoding="utf-8"))
    root = _coco_images_dir(src, images)
    captions: dict[Any, list[tuple[Any, str]]] = {}
    for ann in data["annotations"]:
        captions.setdefault(ann["image_id"], []).append((ann.get("id", 0), str(ann["caption"]).strip()))
    for img in sorted(data["images"], key=lambda i: i["id"]):
        caps = [c for _, c in sorted(captions.get(img["id"], []))]
        meta = {"image_id": img["id"], "file_name": img["file_name"], "captions": caps}
        yield Item(root / img["file_name"], caps[0] if caps else None, meta)


def iter_items(
    src: str | Path, *, images: str | Path | None = None, path_column: str | None = None, caption_column: str | None = None
) -> Iterator[Item]:
    """Input pairs from a folder, a CSV/TSV/JSONL table or a COCO captions JSON (chosen by what ``src`` is)."""
    src = Path(src).expanduser()
    img_root = Path(images).expanduser() if images is not None else None
    if src.is_dir():
        pairs, missing = find_captioned_images(src)
        items = [Item(p, c, {}) for p, c in pairs] + [Item(p, None, {}) for p in missing]
        yield from sorted(items, key=lambda item: item.path)
    elif src.suffix.lower() in (".csv", ".tsv", ".jsonl"):
        yield from iter_table(src, images=img_root, path_column=path_column, caption_column=caption_column)
    elif src.suffix.lower() == ".json":
        yield from iter_coco(src, images=img_root)
    else:
        raise ValueError(f"{src}: expected a folder, a .csv/.tsv/.jsonl table or a COCO captions .json")


# --- writing --------------------------------------------------------------------------------------------


def encode_image(data: bytes, *, resolution: int | None, min_size: int, verify: bool) -> tuple[str, bytes, dict[str, int]]:
    """(extension, bytes, sizes) to store. With ``resolution``: center-cropped and Lanczos-resized like
    training does, PNG sources kept lossless, others JPEG q95. Without: the original bytes (re-encoded to PNG
    only for formats the pipeline does not read). Raises :class:`CorruptSample`."""
    with Image.open(io.BytesIO(data)) as probe:
        fmt, (w, h) = probe.format, probe.size
    sizes = {"original_width": w, "original_height": h}
    if resolution is None and fmt in FORMAT_EXT and not verify:
        if min(w, h) < min_size:
            raise CorruptSample(f"image too small ({w}x{h})")
        return FORMAT_EXT[fmt], data, {**sizes, "width": w, "height": h}
    img = open_image(data, min_size=min_size)
    if resolution is None and fmt in FORMAT_EXT:
        return FORMAT_EXT[fmt], data, {**sizes, "width": w, "height": h}
    if resolution is not None:
        img = center_crop_resize(img, resolution)
    buf = io.BytesIO()
    if fmt == "JPEG" or (fmt == "WEBP" and resolution is not None):
        img.save(buf, format="JPEG", quality=95)
        ext = "jpg"
    else:
        img.save(buf, format="PNG")
        ext = "png"
    return ext, buf.getvalue(), {**sizes, "width": img.size[0], "height": img.size[1]}


class _ShardWriter:
    """Writes ``{index:05d}.tar`` (via a temporary name) and ``{index:05d}_stats.json``; deterministic bytes."""

    def __init__(self, dest: Path, shard_size: int) -> None:
        self.dest, self.shard_size = dest, shard_size
        self.index = -1
        self.tar: tarfile.TarFile | None = None
        self.in_shard = 0
        self.shards: list[str] = []
        self.pending = self._zero()
        self.stats: dict[str, Any] | None = None

    @staticmethod
    def _zero() -> dict[str, int]:
        return {"failed_to_download": 0, "failed_to_resize": 0, "failed_no_caption": 0}

    def fail(self, kind: str) -> None:
        (self.stats if self.stats is not None else self.pending)[kind] += 1

    def write(self, key: str, members: dict[str, bytes]) -> None:
        if self.tar is None:
            self._open()
        for ext, data in members.items():
            add_member(self.tar, f"{key}.{ext}", data)
        self.stats["successes"] += 1
        self.in_shard += 1
        if self.in_shard == self.shard_size:
            self._close_tar()

    def next_key(self) -> str:
        index, pos = (self.index + 1, 0) if self.tar is None else (self.index, self.in_shard)
        return f"{index:05d}{pos:0{max(4, len(str(self.shard_size - 1)))}d}"

    def _open(self) -> None:
        self._write_stats()
        self.index += 1
        self.in_shard = 0
        self._writing = ExitStack()
        self.tar = self._writing.enter_context(atomic_tar(self.dest / f"{self.index:05d}.tar"))
        self.stats = {"successes": 0, **self.pending, "start_time": time.time()}
        self.pending = self._zero()

    def _close_tar(self) -> None:
        if self.tar is not None:
            self._writing.close()  # closes the tar and moves it into place
            self.shards.append(str(self.dest / f"{self.index:05d}.tar"))
            self.tar = None

    def _write_stats(self) -> None:
        if self.stats is None:
            return
        s = self.stats
        s["count"] = s["successes"] + s["failed_to_download"] + s["failed_to_resize"] + s["failed_no_caption"]
        s["end_time"] = time.time()
        s["duration"] = s["end_time"] - s["start_time"]
        keys = ("count", "successes", "failed_to_download", "failed_to_resize", "failed_no_caption", "start_time", "end_time", "duration")
        ordered = {k: s[k] for k in keys}
        (self.dest / f"{self.index:05d}_stats.json").write_text(json.dumps(ordered, indent=1))
        self.stats = None

    def close(self) -> None:
        self._close_tar()
        if self.stats is not None:
            for kind, n in self.pending.items():
                self.stats[kind] += n
            self.pending = self._zero()
        self._write_stats()


@dataclass
class MakeShardsResult:
    """What ``make_shards`` wrote and left out."""

    shards: list[str]
    written: int = 0
    unreadable: int = 0  # missing file or undecodable / too small image
    no_caption: int = 0

    def summary(self) -> str:
        return (f"wrote {self.written} samples in {len(self.shards)} shard(s); left out {self.unreadable} unreadable "
                f"image(s) and {self.no_caption} without caption")


def make_shards(
    src: str | Path,
    dest: str | Path,
    *,
    shard_size: int,
    resolution: int | None = None,
    images: str | Path | None = None,
    path_column: str | None = None,
    caption_column: str | None = None,
    min_size: int = 8,
    verify: bool = True,
    overwrite: bool = False,
) -> MakeShardsResult:
    """Write shards of ``shard_size`` samples from ``src`` to the folder ``dest`` (input order kept).

    ``resolution``: store images center-cropped and resized to that square; else the original bytes.
    ``verify``: fully decode every image so broken ones are left out now rather than skipped in training.
    Images without caption and unreadable or too-small images are left out and counted per shard.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    dest = Path(dest).expanduser()
    items = iter(iter_items(src, images=images, path_column=path_column, caption_column=caption_column))
    first = next(items, None)
    if first is None:  # checked before anything is written: no empty DEST for an empty source
        raise ValueError(f"'{src}' holds no images to shard; give a folder of images with .txt captions "
                         "(cat.jpg + cat.txt), a CSV/TSV/JSONL table or a COCO captions file")
    dest.mkdir(parents=True, exist_ok=True)
    existing = sorted(dest.glob("*.tar"))
    if existing and not overwrite:
        raise FileExistsError(f"{dest} already holds {len(existing)} .tar file(s); pass overwrite=True to replace them")
    for old in existing + sorted(dest.glob("*_stats.json")):
        old.unlink()
    writer = _ShardWriter(dest, shard_size)
    result = MakeShardsResult(shards=writer.shards)
    for item in itertools.chain([first], items):
        caption = (item.caption or "").strip()
        if not caption:
            writer.fail("failed_no_caption")
            result.no_caption += 1
            continue
        try:
            data = item.path.read_bytes()
        except OSError:
            writer.fail("failed_to_download")
            result.unreadable += 1
            continue
        try:
            ext, encoded, sizes = encode_image(data, resolution=resolution, min_size=min_size, verify=verify)
        except Exception:  # CorruptSample, or PIL failing on the header
            writer.fail("failed_to_resize")
            result.unreadable += 1
            continue
        key = writer.next_key()
        meta = {**item.meta, "key": key, "caption": caption, "source_path": str(item.path), **sizes}
        writer.write(key, {ext: encoded, "txt": caption.encode("utf-8"), "json": json.dumps(meta, default=str).encode("utf-8")})
        result.written += 1
    writer.close()
    return result
