"""``WebDataSetDataModule``: shards (or an image folder) to per-rank batches, rank and epoch set explicitly."""
from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from ..data.config import DataConfig
from ..data.folder import ImageFolderDataset, collate_folder
from ..data.sources import is_image_folder
from ..data.webdataset_pipeline import ShardedImageTextDataset


class WebDataSetDataModule(L.LightningDataModule):
    """Per-rank batches of ``batch_size`` images; ``batches_per_epoch`` batches per rank per epoch.

    Rank and world size come from the attached trainer (not from the environment), the epoch from
    :meth:`set_epoch` (called by ``StyleGANT.on_train_epoch_start``) before workers start.
    """

    def __init__(self, cfg: DataConfig, *, resolution: int, batch_size: int, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.resolution = resolution
        self.batch_size = batch_size
        self.seed = seed
        self.dataset: ShardedImageTextDataset | ImageFolderDataset | None = None

    def _rank_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def set_epoch(self, epoch: int) -> None:
        if isinstance(self.dataset, ShardedImageTextDataset):
            self.dataset.set_epoch(epoch)

    def train_dataloader(self) -> DataLoader:
        if not self.cfg.sources and is_image_folder(self.cfg.urls):
            self.dataset = ImageFolderDataset(str(self.cfg.urls), resolution=self.resolution, min_size=self.cfg.min_image_size)
            return DataLoader(
                self.dataset, batch_size=self.batch_size, shuffle=True, drop_last=True,
                num_workers=self.cfg.num_workers, collate_fn=collate_folder,
            )
        rank, world = self._rank_world()
        self.dataset = ShardedImageTextDataset(
            self.cfg, resolution=self.resolution, batch_size=self.batch_size, seed=self.seed, rank=rank, world_size=world
        )
        if self.trainer is not None:
            self.dataset.set_epoch(self.trainer.current_epoch)
        return DataLoader(self.dataset, batch_size=None, num_workers=self.cfg.num_workers, persistent_workers=False)
