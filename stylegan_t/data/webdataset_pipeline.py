"""Image-text batches streamed from WebDataset tar shards, safe under DDP (SCALING-NOTES: WebDataset).

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
totals; :class:`ShardLoader` keeps that sum as ``loader.stats``.
"""
from __future__ import annotations

import itertools
import logging
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..errors import UserError
from .config import DataConfig
from .decode import CorruptSample, MissingCaption, decode_caption, decode_image, find_image
from .sources import epoch_order, expand_urls, is_local_path, read_tar_samples, slot_share

log = logging.getLogger("stylegan_t.data")


class NoSamplesError(UserError, RuntimeError):
    """A worker's shards hold no usable sample at all, so it can never fill a batch."""


# --- counting -------------------------------------------------------------------------------------------


class SkipCounter:
    """Per-worker counts of skipped / dropped samples and shard read errors, with rate-limited logging."""

    def __init__(self, max_logs: int = 20) -> None:
        self.skipped = self.dropped = self.shard_errors = 0
        self.usable = 0  # decoded samples
        self.raw = 0  # raw samples read from tars
        self.pass_size = 0  # raw samples in the largest completed pass over a shard list
        self.max_logs = max_logs
        self._logged = 0

    def note(self, kind: str, where: str, reason: str) -> None:
        """Count one ``skipped`` / ``dropped`` sample or ``shard_error`` and maybe log it."""
        if kind == "dropped":
            self.dropped += 1
        elif kind == "shard_error":
            self.shard_errors += 1
        else:
            self.skipped += 1
        total = self.skipped + self.dropped + self.shard_errors
        if self._logged < self.max_logs or total % 1000 == 0:
            self._logged += 1
            log.warning(
                "data: %s %s: %s [worker pid %d so far: %d skipped, %d dropped, %d shard errors]%s",
                kind.replace("_", " "), where, reason, os.getpid(), self.skipped, self.dropped, self.shard_errors,
                " (further messages only every 1000th)" if self._logged == self.max_logs else "",
            )

    def totals(self) -> tuple[int, int, int]:
        return self.skipped, self.dropped, self.shard_errors


@dataclass
class DataStats:
    """Running totals over the batches one rank consumed (``ShardLoader.stats``)."""

    batches: int = 0
    samples: int = 0
    skipped: int = 0
    dropped: int = 0
    shard_errors: int = 0

    def update(self, batch: dict[str, Any]) -> None:
        self.batches += 1
        self.samples += len(batch["caption"])
        self.skipped += int(batch.get("num_skipped", 0))
        self.dropped += int(batch.get("num_dropped", 0))
        self.shard_errors += int(batch.get("num_shard_errors", 0))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# --- the dataset ----------------------------------------------------------------------------------------


def worker_quota(total: int, worker: int, num_workers: int) -> int:
    """Batches worker ``worker`` yields: round-robin over workers, the DataLoader's order."""
    return total // num_workers + (1 if worker < total % num_workers else 0)


class ShardedImageTextDataset(IterableDataset):
    """Batches ``{"image": float32 [B,3,R,R] in [-1,1], "caption": list[str], "key": list[str],
    "num_skipped": int, "num_dropped": int, "num_shard_errors": int}`` from shards.

    Use with ``DataLoader(batch_size=None, persistent_workers=False)`` (or :class:`ShardLoader`); call
    :meth:`set_epoch` before iterating each epoch. ``len()`` is ``cfg.batches_per_epoch`` (per rank).
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

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return self._batches(worker, num_workers, self.epoch, self.skip_batches)

    def _batches(self, worker: int, num_workers: int, epoch: int, skip: int) -> Iterator[dict]:
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
        # Nothing usable after the buffer twice over plus ten passes over the shards: the data is unusable.
        give_up = 2 * self.cfg.sample_shuffle
        reported = counter.totals()
        for index in range(quota):
            images, captions, keys = [], [], []
            while len(images) < self.batch_size:
                sample = next(samples)
                decoded = self.decode(sample, counter)
                if decoded is not None:
                    images.append(decoded[0])
                    captions.append(decoded[1])
                    keys.append(sample["__key__"])
                elif counter.usable == 0 and counter.pass_size and counter.raw > give_up + 10 * counter.pass_size:
                    s, d, e = counter.totals()
                    raise NoSamplesError(
                        f"data: no readable samples: {counter.raw} raw samples read, none usable "
                        f"({s} skipped, {d} dropped without caption, {e} shard errors); check caption_key/image_keys"
                    )
            if index < skip_here:  # consumed before the checkpoint: already counted there
                reported = counter.totals()
                continue
            now = counter.totals()
            yield {
                "image": torch.stack(images),
                "caption": captions,
                "key": keys,
                "num_skipped": now[0] - reported[0],
                "num_dropped": now[1] - reported[1],
                "num_shard_errors": now[2] - reported[2],
            }
            reported = now


# --- the loader -----------------------------------------------------------------------------------------


class ShardLoader(DataLoader):
    """A DataLoader for :class:`ShardedImageTextDataset` with what training needs on top.

    - the epoch is taken from ``epoch_fn()`` (e.g. the trainer's current epoch) each time iteration starts,
      before workers are started, so every epoch reshuffles even with fresh (non-persistent) workers;
    - ``state_dict()`` / ``load_state_dict()`` (Lightning saves them in checkpoints): a run resumed in the
      middle of an epoch continues with the batch after the last one consumed, in the same order;
    - ``stats``: :class:`DataStats` summed over the batches consumed on this rank.
    """

    def __init__(
        self,
        dataset: ShardedImageTextDataset,
        *,
        num_workers: int = 0,
        prefetch_factor: int = 2,
        pin_memory: bool = False,
        epoch_fn: Callable[[], int] | None = None,
        multiprocessing_context: Any = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if num_workers > 0:
            extra = {"prefetch_factor": prefetch_factor, "multiprocessing_context": multiprocessing_context}
        # Workers must not persist: each epoch's workers start with the dataset's new epoch.
        super().__init__(dataset, batch_size=None, num_workers=num_workers, persistent_workers=False, pin_memory=pin_memory, **extra)
        self.epoch_fn = epoch_fn
        self.stats = DataStats()
        self.epoch = 0
        self.consumed = 0  # batches of self.epoch handed out
        self._resume: tuple[int, int] | None = None

    def __iter__(self) -> Iterator[dict]:
        dataset: ShardedImageTextDataset = self.dataset  # type: ignore[assignment]
        epoch = int(self.epoch_fn()) if self.epoch_fn is not None else dataset.epoch
        skip = 0
        if self._resume is not None:
            saved_epoch, saved_batches = self._resume
            self._resume = None
            if saved_epoch == epoch and saved_batches >= len(dataset):
                # The checkpoint closed this epoch (saved at its last batch or its end). Lightning then creates
                # the iterator while its epoch counter still shows the finished epoch and uses it for the next.
                epoch += 1
            elif saved_epoch == epoch and saved_batches > 0:
                skip = saved_batches
        dataset.set_epoch(epoch)
        dataset.skip_batches = skip
        self.epoch, self.consumed = epoch, skip
        try:
            iterator = super().__iter__()  # workers start here with a copy of the dataset as it is now
        finally:
            dataset.skip_batches = 0
        return self._track(iterator)

    def _track(self, iterator: Iterator[dict]) -> Iterator[dict]:
        for batch in iterator:
            self.consumed += 1
            self.stats.update(batch)
            yield batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches": self.consumed, "stats": self.stats.as_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = (int(state["epoch"]), int(state["batches"]))
        self.stats = DataStats(**state.get("stats", {}))
