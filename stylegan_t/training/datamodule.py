"""Lightning DataModules: WebDataset shards (or an image folder) to per-rank batches (docs/data.md).

Every batch is a :class:`~stylegan_t.data.batch.Batch`; the loader sums its skip / drop counts into
``datamodule.stats`` (a :class:`~stylegan_t.data.batch.DataCounts`, this rank's totals, saved with the
checkpoint). Sum across ranks with an all-reduce if a global number is wanted.

The epoch is read in one place, :meth:`_TrainerInfo.trainer_epoch` (``trainer.current_epoch``), each time a
shard epoch's iteration starts, and handed down to the loader and dataset. An image folder's
``DistributedSampler`` gets its epoch from Lightning, which calls ``sampler.set_epoch`` before every epoch.
"""
from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, DistributedSampler

from ..data.batch import DataCounts
from ..data.config import DataConfig
from ..data.folder import ImageFolderDataset, collate_folder
from ..data.loader import CountingLoader, ShardLoader
from ..data.sources import is_image_folder
from ..data.webdataset_pipeline import ShardedImageTextDataset


def _as_config(cfg: DataConfig | dict[str, Any]) -> DataConfig:
    return cfg if isinstance(cfg, DataConfig) else DataConfig.from_dict(dict(cfg))


class _TrainerInfo:
    """Rank, world size and epoch from the attached trainer, or 0 / 1 / 0 without one."""

    trainer: Any

    def _rank_world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def trainer_epoch(self) -> int:
        """The trainer's current epoch (0 without a trainer). Resuming from a checkpoint that closed its
        epoch, Lightning still shows that epoch here; :class:`ShardLoader` corrects that from its own state."""
        trainer = getattr(self, "trainer", None)
        return int(trainer.current_epoch) if trainer is not None else 0


class WebDataSetDataModule(_TrainerInfo, L.LightningDataModule):
    """Per-rank batches of ``batch_size`` images from ``cfg`` (shards, or an image folder), exactly
    ``cfg.batches_per_epoch`` of them per rank per epoch for shards.

    Rank and world size are taken from the attached trainer (``global_rank``, ``world_size``) when
    ``train_dataloader()`` runs, never from environment variables; the epoch from :meth:`trainer_epoch`
    each time an epoch's iteration starts. Mid-epoch resume: the loader's ``state_dict`` goes into
    Lightning checkpoints, and a resumed run continues with the next unseen batch.
    """

    def __init__(self, cfg: DataConfig | dict[str, Any], *, resolution: int, batch_size: int, seed: int = 0) -> None:
        super().__init__()
        self.cfg = _as_config(cfg)
        self.resolution, self.batch_size, self.seed = resolution, batch_size, seed
        self.loader: DataLoader | None = None
        self._folder: FolderDataModule | None = None
        self._loader_state: dict[str, Any] | None = None

    @property
    def dataset(self) -> ShardedImageTextDataset | ImageFolderDataset | None:
        if self._folder is not None:
            return self._folder.dataset
        return self.loader.dataset if self.loader is not None else None  # type: ignore[return-value]

    @property
    def stats(self) -> DataCounts:
        """Skip / drop counts over the batches this rank consumed (all epochs, kept across resume)."""
        if self._folder is not None:
            return self._folder.stats
        return self.loader.stats if isinstance(self.loader, CountingLoader) else DataCounts()

    def state_dict(self) -> dict[str, Any]:
        """Saved in Lightning checkpoints: the loader's position in its epoch and its counts."""
        loader = self._folder.loader if self._folder is not None else self.loader
        return {"loader": loader.state_dict()} if isinstance(loader, CountingLoader) else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # Lightning restores the datamodule before train_dataloader() runs; also when it restores no loader
        # state itself (checkpoints written at the end of an epoch), so the counts always carry over.
        self._loader_state = state.get("loader")

    def train_dataloader(self) -> DataLoader:
        if not self.cfg.sources and is_image_folder(self.cfg.urls):
            seed = self.cfg.seed if self.cfg.seed is not None else self.seed
            self._folder = FolderDataModule(
                self.cfg.urls, resolution=self.resolution, batch_size=self.batch_size, seed=seed,
                num_workers=self.cfg.num_workers, min_size=self.cfg.min_image_size,
            )
            self._folder.trainer = self.trainer
            loader = self._folder.train_dataloader()
        else:
            loader = self._shard_loader()
        if self._loader_state is not None:
            loader.load_state_dict(self._loader_state)
            self._loader_state = None
        return loader

    def _shard_loader(self) -> ShardLoader:
        rank, world = self._rank_world()
        dataset = ShardedImageTextDataset(
            self.cfg, resolution=self.resolution, batch_size=self.batch_size, seed=self.seed, rank=rank, world_size=world
        )
        self.loader = ShardLoader(
            dataset,
            num_workers=self.cfg.num_workers,
            prefetch_factor=self.cfg.prefetch_factor,
            pin_memory=torch.cuda.is_available(),
            epoch_fn=self.trainer_epoch,
        )
        return self.loader


class FolderDataModule(_TrainerInfo, L.LightningDataModule):
    """An image folder with sidecar ``.txt`` captions; each epoch one pass, split disjointly across ranks
    by a ``DistributedSampler`` built with the trainer's rank (shuffled with seed + epoch, last partial
    batch dropped so every rank takes the same number of steps)."""

    def __init__(self, root: str, *, resolution: int, batch_size: int, seed: int = 0, num_workers: int = 0, min_size: int = 8) -> None:
        super().__init__()
        self.root, self.resolution, self.batch_size, self.seed = root, resolution, batch_size, seed
        self.num_workers, self.min_size = num_workers, min_size
        self.dataset: ImageFolderDataset | None = None
        self.loader: CountingLoader | None = None

    @property
    def stats(self) -> DataCounts:
        """The loader's counts, plus the caption-less images (known up front, counted once)."""
        stats = self.loader.stats.copy() if self.loader is not None else DataCounts()
        if self.dataset is not None:
            stats.dropped += self.dataset.num_dropped
        return stats

    def train_dataloader(self) -> DataLoader:
        self.dataset = ImageFolderDataset(self.root, resolution=self.resolution, min_size=self.min_size)
        rank, world = self._rank_world()
        if len(self.dataset) < world * self.batch_size:
            raise ValueError(f"data: {len(self.dataset)} captioned images under {self.root} cannot fill one batch of "
                             f"{self.batch_size} on each of {world} rank(s)")
        sampler = DistributedSampler(self.dataset, num_replicas=world, rank=rank, shuffle=True, seed=self.seed, drop_last=True)
        sampler.set_epoch(self.trainer_epoch())  # Lightning calls set_epoch before every epoch
        self.loader = CountingLoader(
            self.dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True, num_workers=self.num_workers,
            collate_fn=collate_folder, pin_memory=torch.cuda.is_available(),
        )
        return self.loader
