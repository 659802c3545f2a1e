"""Streaming image-text batches from WebDataset shards, safe under DDP (SCALING-NOTES: WebDataset).

Per epoch: shard list -> shuffle (seed + epoch) -> split by rank -> split by worker -> tar members ->
shuffle buffer of *raw* samples -> decode. Rank, world size and epoch are passed in explicitly (spawned
workers cannot be trusted to know their rank). Every rank yields exactly ``batches_per_epoch`` batches,
cycling its shards as needed, so no rank finishes early. Broken samples are skipped and counted; the
counts ride along in each batch as ``num_skipped`` / ``num_dropped``.
"""
from __future__ import annotations

import itertools
import os
import logging
import random
from collections.abc import Iterator

import torch
import webdataset as wds
from torch.utils.data import IterableDataset, get_worker_info

from .config import DataConfig
from .decode import CorruptSample, decode_caption, decode_image
from .sources import expand_urls, is_local_path

log = logging.getLogger("stylegan_t.data")


class NoSamplesError(RuntimeError):
    """A full pass over a worker's shards produced no usable sample."""


class _Counters:
    """Per-worker skip counters with rate-limited logging."""

    def __init__(self, max_logs: int) -> None:
        self.skipped = 0  # corrupt: unreadable image, too small, broken tar member
        self.dropped = 0  # no caption
        self.max_logs = max_logs
        self._logged = 0

    def note(self, kind: str, where: str, reason: str) -> None:
        if kind == "dropped":
            self.dropped += 1
        else:
            self.skipped += 1
        total = self.skipped + self.dropped
        if self._logged < self.max_logs or total % 1000 == 0:
            self._logged += 1
            log.warning("skipping sample %s (%s): %s [%d skipped, %d dropped so far in this worker]", where, kind, reason, self.skipped, self.dropped)


class ShardedImageTextDataset(IterableDataset):
    """Batches ``{"image": [B,3,R,R] in [-1,1], "caption": list[str], "num_skipped": int, "num_dropped": int}``."""

    def __init__(
        self,
        cfg: DataConfig,
        *,
        resolution: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.resolution = resolution
        self.batch_size = batch_size
        self.seed = cfg.seed if cfg.seed is not None else seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        if cfg.sources:
            self.sources = [(expand_urls(s.urls), float(s.weight)) for s in cfg.sources]
        else:
            self.sources = [(expand_urls(cfg.urls), 1.0)]
        empty = [i for i, (shards, _) in enumerate(self.sources) if not shards]
        if empty:
            raise ValueError(f"data: no shards found for {cfg.urls if not cfg.sources else [cfg.sources[i].urls for i in empty]}")
        missing = [u for shards, _ in self.sources for u in shards if is_local_path(u) and not os.path.exists(u)]
        if missing:
            raise ValueError(f"data: {len(missing)} shard file(s) not found, e.g. {missing[:3]}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.cfg.batches_per_epoch

    # --- shard assignment ---------------------------------------------------------------------------

    def shards_for(self, shards: list[str], *, worker: int, num_workers: int, epoch: int) -> list[str]:
        """This (rank, worker)'s share of ``shards`` for ``epoch``: disjoint across ranks and workers."""
        order = list(shards)
        if self.cfg.shard_shuffle:
            random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        slots = self.world_size * num_workers
        slot = self.rank * num_workers + worker
        mine = order[slot::slots]
        if not mine:  # fewer shards than (rank, worker) slots: share, at the cost of repeats
            mine = [order[slot % len(order)]]
            log.warning("only %d shards for %d rank x worker slots: shards repeat across ranks", len(order), slots)
        return mine

    def _raw_samples(self, shards: list[str], rng: random.Random, counters: _Counters) -> Iterator[dict]:
        """Raw tar samples of ``shards``, cycling (reshuffled each pass) forever."""

        def handler(err: Exception) -> bool:
            counters.note("skipped", "tar", f"{type(err).__name__}: {err}")
            return True

        for _ in itertools.count():
            produced = 0
            order = list(shards)
            rng.shuffle(order)
            for url in order:
                for sample in wds.tarfile_samples(iter([{"url": url}]), handler=handler):
                    produced += 1
                    yield sample
            if produced == 0:
                raise NoSamplesError(f"no readable samples in shards {shards[:3]}{'...' if len(shards) > 3 else ''}")

    def _mixed(self, streams: list[Iterator[dict]], weights: list[float], rng: random.Random) -> Iterator[dict]:
        if len(streams) == 1:
            yield from streams[0]
            return
        while True:
            yield next(rng.choices(streams, weights=weights)[0])

    def _shuffled(self, samples: Iterator[dict], rng: random.Random) -> Iterator[dict]:
        size = self.cfg.sample_shuffle
        if size <= 1:
            yield from samples
            return
        buffer: list[dict] = []
        for sample in samples:
            if len(buffer) < size:
                buffer.append(sample)
                continue
            i = rng.randrange(size)
            buffer[i], sample = sample, buffer[i]
            yield sample

    def decode(self, sample: dict, counters: _Counters) -> tuple[torch.Tensor, str] | None:
        where = f"{sample.get('__url__', '?')}:{sample.get('__key__', '?')}"
        try:
            caption = decode_caption(sample, self.cfg.caption_key)
        except CorruptSample as err:
            counters.note("dropped", where, str(err))
            return None
        key = next((k for k in self.cfg.image_keys if k in sample), None)
        try:
            if key is None:
                raise CorruptSample(f"no image member (looked for {self.cfg.image_keys})")
            image = decode_image(sample[key], self.resolution, min_size=self.cfg.min_image_size, draft=self.cfg.jpeg_draft)
        except CorruptSample as err:
            counters.note("skipped", where, str(err))
            return None
        return image, caption

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        quota = len(self) // num_workers + (1 if worker < len(self) % num_workers else 0)
        rng = random.Random(hash((self.seed, self.epoch, self.rank, worker)))
        counters = _Counters(self.cfg.max_skip_logs)
        streams = [
            self._raw_samples(self.shards_for(shards, worker=worker, num_workers=num_workers, epoch=self.epoch), rng, counters)
            for shards, _ in self.sources
        ]
        samples = self._shuffled(self._mixed(streams, [w for _, w in self.sources], rng), rng)
        reported = (0, 0)
        for _ in range(quota):
            images, captions = [], []
            while len(images) < self.batch_size:
                decoded = self.decode(next(samples), counters)
                if decoded is not None:
                    images.append(decoded[0])
                    captions.append(decoded[1])
            yield {
                "image": torch.stack(images),
                "caption": captions,
                "num_skipped": counters.skipped - reported[0],
                "num_dropped": counters.dropped - reported[1],
            }
            reported = (counters.skipped, counters.dropped)
