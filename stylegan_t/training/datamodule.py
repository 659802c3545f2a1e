"""Lightning DataModules: WebDataset shards (or an image folder) to per-rank batches (docs/data.md).

Batches: ``{"image": float32 [B,3,R,R] in [-1,1], "caption": list[str], "key": list[str],
"num_skipped": int, "num_dropped": int, "num_shard_errors": int}``; the ``num_*`` fields count what was
skipped/dropped since the same worker's previous batch, so their sum over a rank's batches is that rank's
total (``datamodule.stats``). Sum across ranks with an all-reduce if a global number is wanted.
"""
from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler

from ..data.config import DataConfig
from ..data.folder import ImageFolderDataset, collate_folder
from ..data.sources import is_image_folder
from ..data.webdataset_pipeline import DataStats, ShardedImageTextDataset, ShardLoader


def _as_config(cfg: DataConfig | dict[str, Any]) -> DataConfig:
    return cfg if isinstance(cfg, DataConfig) else DataConfig.from_dict(dict(cfg))


class _TrainerInfo:
    """Rank, world size and epoch from the attached trainer, or 0 / 1 / 0 without one."""

    trainer: Any
    _epoch: int  # the epoch without a trainer (set_epoch)

    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _current_epoch(self) -> int:
        """The epoch the data iterator being created will serve.

        Resuming from a checkpoint written at the end of epoch e, Lightning creates the iterator while
        ``current_epoch`` still reads e (the epoch is "processed" but not yet "completed") and then uses it
        for epoch e + 1; Lightning's own sampler epoch (``epoch_progress.current.processed``) says the same.
        """
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return self._epoch
        epoch = int(trainer.current_epoch)
        progress = getattr(getattr(getattr(trainer, "fit_loop", None), "epoch_progress", None), "current", None)
        if progress is not None and progress.processed > progress.completed:
            epoch += 1
        return epoch


class WebDataSetDataModule(_TrainerInfo, L.LightningDataModule):
    """Per-rank batches of ``batch_size`` images from ``cfg`` (shards, or an image folder), exactly
    ``cfg.batches_per_epoch`` of them per rank per epoch for shards.

    Rank and world size are taken from the attached trainer (``global_rank``, ``world_size``) when
    ``train_dataloader()`` runs, never from environment variables; the epoch from ``trainer.current_epoch``
    each time an epoch's iteration starts. Mid-epoch resume: the loader's ``state_dict`` goes into
    Lightning checkpoints, and a resumed run continues with the next unseen batch.
    """

    def __init__(self, cfg: DataConfig | dict[str, Any], *, resolution: int, batch_size: int, seed: int = 0) -> None:
        super().__init__()
        self.cfg = _as_config(cfg)
        self.resolution, self.batch_size, self.seed = resolution, batch_size, seed
        self.loader: DataLoader | None = None
        self._folder: FolderDataModule | None = None
        self._epoch = 0
        self._loader_state: dict[str, Any] | None = None

    @property
    def dataset(self) -> ShardedImageTextDataset | ImageFolderDataset | None:
        if self._folder is not None:
            return self._folder.dataset
        return self.loader.dataset if self.loader is not None else None  # type: ignore[return-value]

    @property
    def stats(self) -> DataStats:
        """Skip / drop counts over the batches this rank consumed (all epochs, kept across resume)."""
        if self._folder is not None:
            return self._folder.stats
        return self.loader.stats if isinstance(self.loader, ShardLoader) else DataStats()

    def state_dict(self) -> dict[str, Any]:
        """Saved in Lightning checkpoints: the loader's position in its epoch and the running stats."""
        return {"loader": self.loader.state_dict()} if isinstance(self.loader, ShardLoader) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # Lightning restores the datamodule before train_dataloader() runs; also when it restores no loader
        # state itself (checkpoints written at the end of an epoch), so the stats always carry over.
        self._loader_state = state.get("loader")

    def set_epoch(self, epoch: int) -> None:
        """Epoch to use without a trainer (with one, ``trainer.current_epoch`` is read at iteration start)."""
        self._epoch = int(epoch)
        if self._folder is not None:
            self._folder.set_epoch(epoch)

    def train_dataloader(self) -> DataLoader:
        if not self.cfg.sources and is_image_folder(self.cfg.urls):
            seed = self.cfg.seed if self.cfg.seed is not None else self.seed
            self._folder = FolderDataModule(
                self.cfg.urls, resolution=self.resolution, batch_size=self.batch_size, seed=seed,
                num_workers=self.cfg.num_workers, min_size=self.cfg.min_image_size,
            )
            self._folder.trainer = self.trainer
            self._folder._epoch = self._epoch
            return self._folder.train_dataloader()
        rank, world = self._rank_world()
        dataset = ShardedImageTextDataset(
            self.cfg, resolution=self.resolution, batch_size=self.batch_size, seed=self.seed, rank=rank, world_size=world
        )
        self.loader = ShardLoader(
            dataset,
            num_workers=self.cfg.num_workers,
            prefetch_factor=self.cfg.prefetch_factor,
            pin_memory=torch.cuda.is_available(),
            epoch_fn=self._current_epoch,
        )
        if self._loader_state is not None:
            self.loader.load_state_dict(self._loader_state)
            self._loader_state = None
        return self.loader


class _CountingLoader(DataLoader):
    """A DataLoader that sums the batches' skip counts into ``stats``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats = DataStats()

    def __iter__(self):
        for batch in super().__iter__():
            self.stats.update(batch)
            yield batch


class FolderDataModule(_TrainerInfo, L.LightningDataModule):
    """An image folder with sidecar ``.txt`` captions; each epoch one pass, split disjointly across ranks
    by a ``DistributedSampler`` built with the trainer's rank (shuffled with seed + epoch, last partial
    batch dropped so every rank takes the same number of steps)."""

    def __init__(self, root: str, *, resolution: int, batch_size: int, seed: int = 0, num_workers: int = 0, min_size: int = 8) -> None:
        super().__init__()
        self.root, self.resolution, self.batch_size, self.seed = root, resolution, batch_size, seed
        self.num_workers, self.min_size = num_workers, min_size
        self.dataset: ImageFolderDataset | None = None
        self.loader: _CountingLoader | None = None
        self._epoch = 0

    @property
    def stats(self) -> DataStats:
        stats = self.loader.stats if self.loader is not None else DataStats()
        if self.dataset is not None:  # caption-less images are known up front; count them once
            stats = DataStats(**{**stats.as_dict(), "dropped": stats.dropped + self.dataset.num_dropped})
        return stats

    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)
        if self.loader is not None:
            self.loader.sampler.set_epoch(epoch)  # type: ignore[union-attr]

    def train_dataloader(self) -> DataLoader:
        self.dataset = ImageFolderDataset(self.root, resolution=self.resolution, min_size=self.min_size)
        rank, world = self._rank_world()
        if len(self.dataset) < world * self.batch_size:
            raise ValueError(f"data: {len(self.dataset)} captioned images under {self.root} cannot fill one batch of "
                             f"{self.batch_size} on each of {world} rank(s)")
        sampler = DistributedSampler(self.dataset, num_replicas=world, rank=rank, shuffle=True, seed=self.seed, drop_last=True)
        sampler.set_epoch(self._current_epoch())  # Lightning calls set_epoch again before every epoch
        self.loader = _CountingLoader(
            self.dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True, num_workers=self.num_workers,
            collate_fn=collate_folder, pin_memory=torch.cuda.is_available(),
        )
        return self.loader
