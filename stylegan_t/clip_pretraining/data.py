"""The shards CLIP pretraining reads: a fixed held-out split, the training stream, a fingerprint for reuse.

Training batches come from the project's shard pipeline (:class:`stylegan_t.data.ShardedImageTextDataset`)
with the held-out samples filtered out of the raw stream; the held-out samples are decoded the same way.
Which samples are held out depends only on each sample's key (a CRC32 hash), not on shard order.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ..data.config import DataConfig
from ..data.decode import CorruptSample, decode_caption, decode_image, find_image
from ..data.sources import expand_urls, is_local_path, read_tar_samples
from ..data.webdataset_pipeline import ShardedImageTextDataset
from .config import PretrainClipConfig, PretrainClipError

_FINGERPRINT_BYTES = 1 << 20  # bytes hashed at each end of a shard (with its size): cheap and content-aware
#: a training split up to this size decoded (float32) is held in memory; CPU-sized sets are read ~40 times over
IN_MEMORY_BYTES = 1 << 30


def is_held_out(key: str, fraction: float) -> bool:
    """Whether the sample ``key`` belongs to the held-out split (about ``fraction`` of all keys)."""
    return zlib.crc32(key.encode("utf-8")) < fraction * 2**32


def find_shards(urls: str | list[str]) -> list[str]:
    """The shard files named by ``urls`` (folder, brace pattern, glob, list); raises when there are none."""
    shards = expand_urls(urls)
    if not shards:
        raise PretrainClipError(
            f"pretrain-clip: no .tar shards found at {urls!r}; for a folder of images with .txt captions run "
            "`stylegan-t make-shards FOLDER SHARDS` first"
        )
    missing = [u for u in shards if is_local_path(u) and not os.path.isfile(u)]
    if missing:
        raise PretrainClipError(f"pretrain-clip: {len(missing)} shard file(s) not found, e.g. {missing[0]}")
    return shards


def fingerprint(shards: list[str]) -> str:
    """A hash of every local shard's name, size and first and last MiB (remote shards: their URL only)."""
    digest = hashlib.sha256()
    for url in shards:
        digest.update(os.path.basename(url).encode() + b"\0")
        if not is_local_path(url):
            digest.update(url.encode())
            continue
        size = os.path.getsize(url)
        digest.update(str(size).encode())
        with open(url, "rb") as f:
            digest.update(f.read(_FINGERPRINT_BYTES))
            if size > _FINGERPRINT_BYTES:
                f.seek(max(size - _FINGERPRINT_BYTES, _FINGERPRINT_BYTES))
                digest.update(f.read())
    return digest.hexdigest()


@dataclass
class HeldOut:
    """Decoded held-out samples (``images`` in [-1, 1]) and what a scan of the shards found."""

    images: torch.Tensor
    captions: list[str]
    train_samples_seen: int  # usable training samples met while scanning (> 0, or the data is unusable)


def _decoded(sample: dict, cfg: PretrainClipConfig, resolution: int) -> tuple[torch.Tensor, str] | None:
    try:
        caption = decode_caption(sample, cfg.caption_key)
        _, data = find_image(sample, DataConfig().image_keys)
        return decode_image(data, resolution), caption
    except CorruptSample:
        return None


def _member_keys(cfg: PretrainClipConfig) -> set[str]:
    """The tar members a decode needs: the image extensions and the caption's."""
    return set(DataConfig().image_keys) | {"json" if cfg.caption_key.startswith("json:") else cfg.caption_key}


def count_training_samples(shards: list[str], cfg: PretrainClipConfig) -> int:
    """Samples (keys) of the training split, from the tar headers alone (no member is read or decoded)."""
    count = 0
    for url in shards:
        for sample in read_tar_samples(url, keep=set(), on_error=lambda *_: None):
            count += not is_held_out(sample["__key__"], cfg.holdout_fraction)
    return count


def scan_held_out(shards: list[str], cfg: PretrainClipConfig, resolution: int) -> HeldOut:
    """Read shards until ``eval_samples`` held-out samples and one training sample are found (or all are read).

    Raises :class:`PretrainClipError` when no sample at all is usable for training."""
    images, captions, train_seen = [], [], 0
    keep = _member_keys(cfg)
    for url in shards:
        for sample in read_tar_samples(url, keep=keep, on_error=lambda *_: None):
            held = is_held_out(sample["__key__"], cfg.holdout_fraction)
            if (held and len(images) >= cfg.eval_samples) or (not held and train_seen):
                continue
            decoded = _decoded(sample, cfg, resolution)
            if decoded is None:
                continue
            if held:
                images.append(decoded[0])
                captions.append(decoded[1])
            else:
                train_seen += 1
        if train_seen and len(images) >= cfg.eval_samples:
            break
    if not train_seen:
        found = f" ({len(images)} held out)" if images else ""
        raise PretrainClipError(
            f"pretrain-clip: no usable image-caption sample for training in {len(shards)} shard(s){found}: "
            f"empty shards, unreadable images or no .{cfg.caption_key} captions (see `stylegan-t check-shards`)"
        )
    stacked = torch.stack(images) if images else torch.zeros(0, 3, resolution, resolution)
    return HeldOut(stacked, captions, train_seen)


class TrainingShards(ShardedImageTextDataset):
    """The project's shard pipeline with the held-out samples left out of the raw stream."""

    def __init__(self, cfg: DataConfig, *, holdout_fraction: float, resolution: int, batch_size: int, seed: int) -> None:
        super().__init__(cfg, resolution=resolution, batch_size=batch_size, seed=seed)
        self.holdout_fraction = holdout_fraction

    def _read(self, urls: list[str], counter) -> Iterator[dict]:
        for sample in super()._read(urls, counter):
            if not is_held_out(sample["__key__"], self.holdout_fraction):
                yield sample


def decode_training_split(shards: list[str], cfg: PretrainClipConfig, resolution: int) -> tuple[torch.Tensor, list[str]]:
    """Every usable sample of the training split, decoded once: ``(images in [-1, 1], captions)``; unreadable
    images and missing captions are left out, as the streaming pipeline skips them."""
    images, captions = [], []
    keep = _member_keys(cfg)
    for url in shards:
        for sample in read_tar_samples(url, keep=keep, on_error=lambda *_: None):
            decoded = None if is_held_out(sample["__key__"], cfg.holdout_fraction) else _decoded(sample, cfg, resolution)
            if decoded is not None:
                images.append(decoded[0])
                captions.append(decoded[1])
    stacked = torch.stack(images) if images else torch.zeros(0, 3, resolution, resolution)
    return stacked, captions


def in_memory_batches(images: torch.Tensor, captions: list[str], cfg: PretrainClipConfig) -> Iterator[tuple[torch.Tensor, list[str]]]:
    """``cfg.steps`` batches drawn from a fresh random order of the whole split on every pass (seeded)."""
    rng = torch.Generator().manual_seed(cfg.seed)

    def passes() -> Iterator[int]:
        while True:
            yield from torch.randperm(len(captions), generator=rng).tolist()

    order = passes()
    for _ in range(cfg.steps):
        index = list(itertools.islice(order, cfg.batch_size))
        yield images[index], [captions[i] for i in index]


def training_batches(
    shards: list[str], cfg: PretrainClipConfig, resolution: int, *, train_samples: int | None = None
) -> Iterator[tuple[torch.Tensor, list[str]]]:
    """``cfg.steps`` batches of (images in [-1, 1], captions) from the training split.

    A split of ``train_samples`` that fits :data:`IN_MEMORY_BYTES` decoded is decoded once and drawn from
    memory (a small set is read many times over: decoding was a quarter of a step); larger ones stream."""
    from ..data import ShardLoader

    if train_samples is not None and train_samples * 3 * resolution**2 * 4 <= IN_MEMORY_BYTES:
        images, captions = decode_training_split(shards, cfg, resolution)
        if captions:
            yield from in_memory_batches(images, captions, cfg)
            return

    data = DataConfig(
        urls=shards, caption_key=cfg.caption_key, num_workers=cfg.num_workers, sample_shuffle=cfg.sample_shuffle,
        batches_per_epoch=cfg.steps, seed=cfg.seed,
    )
    dataset = TrainingShards(data, holdout_fraction=cfg.holdout_fraction, resolution=resolution, batch_size=cfg.batch_size, seed=cfg.seed)
    for batch in ShardLoader(dataset, num_workers=cfg.num_workers):
        yield batch["image"], batch["caption"]
