"""Real images (and their captions) for FID and the CLIP score: the one reader, on top of :mod:`stylegan_t.data`.

Sources are what ``data.urls`` takes (WebDataset shards: brace pattern, glob, folder of ``.tar``, URL) or a
folder of images with optional sidecar ``.txt`` captions. Every readable image is fully decoded (no
reduced-scale JPEG drafts), centre-cropped and Lanczos-resized to the evaluation resolution, as training data
is, and returned as uint8 ``[3, R, R]``. Unreadable samples are skipped and counted; images without caption
still count as reals.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image

from ..data.decode import CorruptSample, MissingCaption, center_crop_resize, decode_caption, find_image, open_image
from ..data.folder import sidecar_caption
from ..data.sources import IMAGE_SUFFIXES, expand_urls, is_image_folder, is_local_path, read_tar_samples
from ..errors import UserError

#: image members of a shard sample, first match wins
SHARD_IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")

SkipFn = Callable[[str, Exception], None]


@dataclass
class RealCounts:
    """What reading the real data found."""

    images: int = 0  # readable images used as reals
    captions: int = 0  # captions collected
    unreadable: int = 0  # samples skipped: unreadable, too small or no image member
    no_caption: int = 0  # readable images without a caption (still reals)
    shard_errors: int = 0  # shards that failed to open or broke midway

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def pil_to_uint8(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 ``[3, H, W]``."""
    return torch.from_numpy(np.array(img, dtype=np.uint8, copy=True)).permute(2, 0, 1)


def decode_real(data: bytes, resolution: int) -> torch.Tensor:
    """Encoded bytes -> uint8 ``[3, R, R]``: RGB, centre-cropped, Lanczos-resized from the fully decoded image."""
    return pil_to_uint8(center_crop_resize(open_image(data), resolution))


def resize_like_reals(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 ``[N, 3, H, W]`` -> ``[N, 3, R, R]`` with the reals' crop and Lanczos resize (PIL, per image)."""
    arrays = images.permute(0, 2, 3, 1).cpu().numpy()
    return torch.stack([pil_to_uint8(center_crop_resize(Image.fromarray(a), resolution)) for a in arrays])


def image_paths(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted)."""
    root = Path(folder).expanduser()
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def check_real_source(source: str) -> None:
    """A local source (no URL, no pattern) must exist; raises :class:`UserError` naming it."""
    if is_local_path(source) and not any(c in source for c in "{*?[") and "::" not in source:
        if not Path(source).expanduser().exists():
            raise UserError(f"real images '{source}' not found")


Decoder = Callable[[bytes], torch.Tensor]


def _folder_samples(folder: str, decode: Decoder | None, skip: SkipFn) -> Iterator[tuple[torch.Tensor | None, str | None]]:
    for path in image_paths(folder):
        try:
            image = decode(path.read_bytes()) if decode else None
        except (CorruptSample, OSError) as err:
            skip(str(path), err)
            continue
        yield image, sidecar_caption(path) or None


def _shard_samples(
    source: str, decode: Decoder | None, caption_key: str, skip: SkipFn, counts: RealCounts
) -> Iterator[tuple[torch.Tensor | None, str | None]]:
    shards = expand_urls(source)
    if not shards:
        raise UserError(f"no shards or images found for '{source}'")

    def on_error(url: str, err: Exception) -> None:
        counts.shard_errors += 1

    keep = set(SHARD_IMAGE_KEYS) | {"json" if caption_key.startswith("json:") else caption_key}
    for url in shards:
        for sample in read_tar_samples(url, keep=keep, on_error=on_error):
            try:
                caption: str | None = decode_caption(sample, caption_key)
            except MissingCaption:
                caption = None
            try:
                image = decode(find_image(sample, SHARD_IMAGE_KEYS)[1]) if decode else None
            except CorruptSample as err:
                skip(str(sample.get("__key__", url)), err)
                continue
            yield image, caption


def iter_real_samples(
    source: str,
    *,
    resolution: int,
    decode: bool = True,
    caption_key: str = "txt",
    counts: RealCounts | None = None,
    on_skip: SkipFn | None = None,
) -> Iterator[tuple[torch.Tensor | None, str | None]]:
    """``(uint8 image or None, caption or None)`` per usable real sample, in a fixed order (one pass).

    ``decode=False`` only reads captions (``None`` stands for the images). Unreadable samples are counted in
    ``counts.unreadable`` (and reported to ``on_skip(name, error)``) and left out.
    """
    counts = counts if counts is not None else RealCounts()

    def skip(name: str, err: Exception) -> None:
        counts.unreadable += 1
        if on_skip is not None:
            on_skip(name, err)

    decoder = (lambda data: decode_real(data, resolution)) if decode else None
    if is_image_folder(source):
        yield from _folder_samples(source, decoder, skip)
    else:
        yield from _shard_samples(source, decoder, caption_key, skip, counts)


def iter_image_folder(
    folder: str | os.PathLike,
    *,
    resolution: int,
    batch_size: int = 64,
    limit: int | None = None,
    on_skip: Callable[[Path, Exception], None] | None = None,
) -> Iterator[torch.Tensor]:
    """uint8 ``[B, 3, R, R]`` batches of the images under ``folder`` (recursive, sorted), the pixels
    :func:`iter_real_samples` gives (e.g. COCO val2014 reals at 64 or 256). Unreadable files are skipped."""
    if not image_paths(folder):
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under '{folder}'")

    def skip(name: str, err: Exception) -> None:
        if on_skip is not None:
            on_skip(Path(name), err)

    samples = _folder_samples(str(folder), lambda data: decode_real(data, resolution), skip)
    batch: list[torch.Tensor] = []
    for count, (image, _) in enumerate(samples):
        if limit is not None and count >= limit:
            break
        batch.append(image)
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


@dataclass
class RealData:
    """One pass over the reals: what was found, and the captions collected (when asked for)."""

    counts: RealCounts = field(default_factory=RealCounts)
    captions: list[str] = field(default_factory=list)


def read_reals(
    source: str,
    *,
    resolution: int,
    fid=None,
    want_captions: bool = False,
    limit: int | None = None,
    batch_size: int = 64,
    caption_key: str = "txt",
    on_sample: Callable[[], None] | None = None,
) -> RealData:
    """Feed the real images of ``source`` to ``fid`` (an :class:`~stylegan_t.metrics.FID`; None: captions only)
    and/or collect their captions, in one pass, up to ``limit`` images (with ``fid``) or captions (without).

    Raises :class:`UserError` when ``fid`` gets no readable image or ``want_captions`` finds no caption.
    """
    data = RealData()
    counts = data.counts
    batch: list[torch.Tensor] = []
    for image, caption in iter_real_samples(source, resolution=resolution, decode=fid is not None,
                                            caption_key=caption_key, counts=counts):
        if fid is not None:
            batch.append(image)
            counts.images += 1
            if len(batch) == batch_size:
                fid.update(torch.stack(batch), real=True)
                batch = []
        if caption is None:
            counts.no_caption += 1
        elif want_captions:
            data.captions.append(caption)
            counts.captions += 1
        if on_sample is not None:
            on_sample()
        if limit is not None and (counts.images if fid is not None else counts.captions) >= limit:
            break
    if batch:
        fid.update(torch.stack(batch), real=True)
    if fid is not None and counts.images == 0:
        raise UserError(f"no readable real images in '{source}' ({counts.unreadable} unreadable, "
                        f"{counts.shard_errors} shard errors)")
    if want_captions and not data.captions:
        raise UserError(f"no captions in '{source}' (shard member '{caption_key}' or sidecar .txt files)")
    return data
