"""Image-text batches streamed from WebDataset tar shards, safe under DDP (docs/data.md).

Per epoch and per (rank, worker) "slot", for each source: shard list -> permutation seeded by seed + epoch
(the same on every rank) -> this slot's disjoint share -> tar members -> shuffle buffer of *raw*
(undecoded) samples, drained at the end of each pass over the share -> then the sources mixed per sample
by weight -> decode + caption -> batches. Rank, world size and epoch are passed in explicitly: spawned
workers cannot be trusted to know their rank. Every rank yields exactly ``batches_per_epoch`` batches
(cycling its share as needed, reshuffled each pass), so no rank finishes early and DDP never hangs.

Broken tars, unreadable or tiny images and samples without an image are *skipped*; samples without a
caption are *dropped*; both are counted, logged at a limited rate, and never fatal. The counts made in
a worker ride along in its batches (``num_skipped``, ``num_dropped``, ``num_shard_errors``: new since
that worker's previous batch), so summing them over the batches a rank consumed gives that rank's exact
totals; :class:`~stylegan_t.data.loader.ShardLoader` keeps that sum as ``loader.stats``.
"""
from __future__ import annotations

import itertools
import logging
import os
import random
from collections.abc import Iterator

import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..errors import UserError
from .batch import Batch, DataCounts, make_batch
from .config import DataConfig
from .decode import CorruptSample, MissingCaption, decode_caption, decode_image, find_image
from .sources import epoch_order, expand_urls, is_local_path, read_tar_samples, slot_share

log = logging.getLogger("stylegan_t.data")


class NoSamplesError(UserError, RuntimeError):
    """A worker's shards hold no usable sample at all, so it can never fill a batch."""


# --- counting -------------------------------------------------------------------------------------------


class SkipCounter:
    """One worker's :class:`DataCounts` of skipped / dropped samples and shard errors, with rate-limited
    logging, and its reading progress (raw samples read, usable ones, size of a pass over its shards)."""

    def __init__(self, max_logs: int = 20) -> None:
        self.counts = DataCounts()
        self.usable = 0  # decoded samples
        self.raw = 0  # raw samples read from tars
        self.pass_size = 0  # raw samples in the largest completed pass over a shard list
        self.max_logs = max_logs
        self._logged = 0

    def note(self, kind: str, where: str, reason: str) -> None:
        """Count one ``skipped`` / ``dropped`` sample or ``shard_error`` and maybe log it."""
        c = self.counts
        if kind == "dropped":
            c.dropped += 1
        elif kind == "shard_error":
            c.shard_errors += 1
        else:
            c.skipped += 1
        total = c.skipped + c.dropped + c.shard_errors
        if self._logged < self.max_logs or total % 1000 == 0:
            self._logged += 1
            log.warning(
                "data: %s %s: %s [worker pid %d so far: %d skipped, %d dropped, %d shard errors]%s",
                kind.replace("_", " "), where, reason, os.getpid(), c.skipped, c.dropped, c.shard_errors,
                " (further messages only every 1000th)" if self._logged == self.max_logs else "",
            )


# --- the dataset ----------------------------------------------------------------------------------------


def worker_quota(total: int, worker: int, num_workers: int) -> int:
    """Batches worker ``worker`` yields: round-robin over workers, the DataLoader's order."""
    return total // num_workers + (1 if worker < total % num_workers else 0)


class ShardedImageTextDataset(IterableDataset):
    """Batches (:class:`~stylegan_t.data.batch.Batch`) from shards, ``cfg.batches_per_epoch`` (``len()``) per rank.

    Use with ``DataLoader(batch_size=None, persistent_workers=False)`` (or :class:`~stylegan_t.data.loader.ShardLoader`,
    which sets the epoch); standalone, call :meth:`set_epoch` before iterating each epoch.
    """

    def __init__(
        self, cfg: DataConfig, *, resolution: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        super().__init__()
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.cfg = cfg
        self.resolution, self.batch_size = resolution, batch_size
        self.seed = cfg.seed if cfg.seed is not None else seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        #: batches of this epoch already consumed (mid-epoch resume); set by ShardLoader
        self.skip_batches = 0
        self.sources: list[tuple[list[str], float]] = []
        for source in cfg.all_sources():
            shards = expand_urls(source.urls)
            if not shards:
                raise ValueError(f"data: no shards found for {source.urls!r}")
            missing = [u for u in shards if is_local_path(u) and not os.path.exists(u)]
            if missing:
                raise ValueError(f"data: {len(missing)} shard file(s) not found, e.g. {missing[:3]}")
            self.sources.append((shards, float(source.weight)))
        caption_member = "json" if cfg.caption_key.startswith("json:") else cfg.caption_key
        self.keep = set(cfg.image_keys) | {caption_member}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.cfg.batches_per_epoch

    # --- raw sample streams ---------------------------------------------------------------------------

    def _pass_error(self, shards: list[str]) -> NoSamplesError:
        more = f" (+{len(shards) - 3} more)" if len(shards) > 3 else ""
        return NoSamplesError(f"data: no readable samples in {len(shards)} shard(s) {shards[:3]}{more}")

    def _read(self, urls: list[str], counter: SkipCounter) -> Iterator[dict]:
        def on_error(url: str, err: Exception) -> None:
            counter.note("shard_error", url, f"{type(err).__name__}: {err}")

        for url in urls:
            for sample in read_tar_samples(url, keep=self.keep, on_error=on_error):
                counter.raw += 1
                yield sample

    def _pass(self, urls: list[str], keep_every: int | None, slot: int, tally: list[int], counter: SkipCounter) -> Iterator[dict]:
        """One pass over ``urls``; with ``keep_every`` only the samples ``i % keep_every == slot``.
        ``tally`` becomes [samples read, samples kept]."""
        for sample in self._read(urls, counter):
            tally[0] += 1
            if keep_every is None or (tally[0] - 1) % keep_every == slot:
                tally[1] += 1
                yield sample

    def source_stream(
        self, shards: list[str], *, epoch: int, slot: int, num_slots: int, rng: random.Random, counter: SkipCounter
    ) -> Iterator[dict]:
        """This slot's raw samples of one source, shuffled, forever: pass after pass over its share, each
        pass shuffled through the buffer and drained, so a pass yields each of its samples exactly once."""
        cfg = self.cfg
        indices, by_sample = slot_share(len(shards), slot=slot, num_slots=num_slots)
        order = epoch_order(shards, seed=self.seed, epoch=epoch, shuffle=cfg.shard_shuffle)
        mine = order if by_sample else [order[i] for i in indices]
        share_all = check_all = False  # read the whole shard list: for good / for one pass
        for repeat in itertools.count():
            keep_every = None
            if check_all or share_all:
                urls = order
            elif cfg.resampled:  # with replacement; slots may overlap (statistically harmless)
                urls = [rng.choice(shards) for _ in shards]
            else:
                if repeat and cfg.shard_shuffle:  # the same share in a new order
                    if by_sample:  # every slot must use the same order to split it by sample index
                        mine = epoch_order(shards, seed=self.seed, epoch=epoch, shuffle=True, repeat=repeat)
                    else:
                        rng.shuffle(mine)
                urls, keep_every = mine, (num_slots if by_sample else None)
            tally = [0, 0]
            yield from self.shuffled(self._pass(urls, keep_every, slot, tally, counter), cfg.sample_shuffle, rng)
            counter.pass_size = max(counter.pass_size, tally[0])
            if tally[1] == 0:
                if check_all or share_all or (by_sample and tally[0] == 0):
                    raise self._pass_error(shards)
                # Only empty/broken shards here (or fewer samples than slots): read them all, with repeats.
                log.warning("data: slot %d of %d got no samples from its share of %d shard(s); reading all of them "
                            "(samples may repeat across ranks/workers)", slot, num_slots, len(shards))
                check_all, share_all = cfg.resampled, not cfg.resampled
            else:
                check_all = False

    @staticmethod
    def mixed(streams: list[Iterator[dict]], weights: list[float], rng: random.Random) -> Iterator[dict]:
        """Each sample from source i with probability weights[i] / sum(weights)."""
        if len(streams) == 1:
            yield from streams[0]
            return
        while True:
            yield next(rng.choices(streams, weights=weights)[0])

    @staticmethod
    def shuffled(samples: Iterator[dict], size: int, rng: random.Random) -> Iterator[dict]:
        """Shuffle buffer of ``size`` raw samples: fill, then emit a random one for each new one."""
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
        rng.shuffle(buffer)
        yield from buffer

    # --- decoding and batching ------------------------------------------------------------------------

    def decode(self, sample: dict, counter: SkipCounter) -> tuple[torch.Tensor, str] | None:
        """(image, caption) of a raw sample, or None after counting why it is unusable."""
        where = f"{sample.get('__url__', '?')}#{sample.get('__key__', '?')}"
        try:
            caption = decode_caption(sample, self.cfg.caption_key)
            _, data = find_image(sample, self.cfg.image_keys)
            image = decode_image(data, self.resolution, min_size=self.cfg.min_image_size, draft=self.cfg.jpeg_draft)
        except MissingCaption as err:
            counter.note("dropped", where, str(err))
            return None
        except CorruptSample as err:
            counter.note("skipped", where, str(err))
            return None
        counter.usable += 1
        return image, caption

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return self._batches(worker, num_workers, self.epoch, self.skip_batches)

    def _batches(self, worker: int, num_workers: int, epoch: int, skip: int) -> Iterator[Batch]:
        # After skipping `skip` batches the DataLoader restarts its round-robin at worker 0, so physical
        # worker p plays logical worker (p + skip) % W: batch i of the epoch always comes from logical i % W.
        logical = (worker + skip) % num_workers
        quota = worker_quota(len(self), logical, num_workers)
        skip_here = worker_quota(skip, logical, num_workers)
        slot, num_slots = self.rank * num_workers + logical, self.world_size * num_workers
        rng = random.Random(f"samples-{self.seed}-{epoch}-{self.rank}-{logical}")
        counter = SkipCounter(self.cfg.max_skip_logs)
        streams = [self.source_stream(s, epoch=epoch, slot=slot, num_slots=num_slots, rng=rng, counter=counter) for s, _ in self.sources]
        samples = self.mixed(streams, [w for _, w in self.sources], rng)
        reported = counter.counts.copy()
        for index in range(quota):
            images, captions, keys = self._fill_batch(samples, counter)
            if index < skip_here:  # consumed before the checkpoint: already counted there
                reported = counter.counts.copy()
                continue
            yield make_batch(images, captions, keys, counter.counts.since(reported))
            reported = counter.counts.copy()

    def _fill_batch(self, samples: Iterator[dict], counter: SkipCounter) -> tuple[list[torch.Tensor], list[str], list[str]]:
        """Decode samples until ``batch_size`` are usable; fail if a long stretch has none usable at all."""
        # Nothing usable after the buffer twice over plus ten passes over the shards: the data is unusable.
        give_up = 2 * self.cfg.sample_shuffle
        images, captions, keys = [], [], []
        while len(images) < self.batch_size:
            sample = next(samples)
            decoded = self.decode(sample, counter)
            if decoded is not None:
                images.append(decoded[0])
                captions.append(decoded[1])
                keys.append(sample["__key__"])
            elif counter.usable == 0 and counter.pass_size and counter.raw > give_up + 10 * counter.pass_size:
                c = counter.counts
                raise NoSamplesError(
                    f"data: no readable samples: {counter.raw} raw samples read, none usable ({c.skipped} skipped, "
                    f"{c.dropped} dropped without caption, {c.shard_errors} shard errors); check caption_key/image_keys"
                )
        return images, captions, keys
