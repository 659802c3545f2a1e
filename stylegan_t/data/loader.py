"""DataLoaders that keep the data side's counts: :class:`CountingLoader` (any map-style dataset) and
:class:`ShardLoader` (the shard pipeline, with the epoch handed in and mid-epoch resume)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader

from .batch import Batch, DataCounts
from .webdataset_pipeline import ShardedImageTextDataset


class CountingLoader(DataLoader):
    """A DataLoader whose ``stats`` (:class:`DataCounts`) sum the skip / drop counts of the batches it handed out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats = DataCounts()

    def _count(self, iterator: Iterator[Batch]) -> Iterator[Batch]:
        for batch in iterator:
            self.stats.add_batch(batch)
            yield batch

    def __iter__(self) -> Iterator[Batch]:
        return self._count(super().__iter__())

    def state_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.as_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats = DataCounts.from_dict(state.get("stats", {}))


class ShardLoader(CountingLoader):
    """A DataLoader for :class:`ShardedImageTextDataset` with what training needs on top.

    - the epoch comes from ``epoch_fn()`` (e.g. the trainer's current epoch; default: the dataset's own),
      read once each time iteration starts, before workers start, so every epoch reshuffles even with fresh
      (non-persistent) workers; it is handed down to the dataset;
    - ``state_dict()`` / ``load_state_dict()`` (Lightning saves them in checkpoints): a run resumed in the
      middle of an epoch continues with the batch after the last one consumed, in the same order;
    - ``stats``: :class:`DataCounts` summed over the batches consumed on this rank (kept across resume).
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
        self.epoch = 0
        self.consumed = 0  # batches of self.epoch handed out
        self._resume: tuple[int, int] | None = None

    def _start(self, epoch: int) -> tuple[int, int]:
        """(epoch, batches to skip) for an iteration that ``epoch_fn`` calls ``epoch``, given a restored state.

        A checkpoint that closed its epoch (saved at its last batch or at its end) is resumed by Lightning
        with the iterator created while its epoch counter still shows the finished epoch, which it then
        uses for the next one: that iteration is the next epoch, from its start.
        """
        if self._resume is None:
            return epoch, 0
        (saved_epoch, saved_batches), self._resume = self._resume, None
        if saved_epoch != epoch:
            return epoch, 0
        if saved_batches >= len(self.dataset):  # type: ignore[arg-type]
            return epoch + 1, 0
        return epoch, saved_batches

    def __iter__(self) -> Iterator[Batch]:
        dataset: ShardedImageTextDataset = self.dataset  # type: ignore[assignment]
        epoch, skip = self._start(int(self.epoch_fn()) if self.epoch_fn is not None else dataset.epoch)
        dataset.set_epoch(epoch)
        dataset.skip_batches = skip
        self.epoch, self.consumed = epoch, skip
        try:
            iterator = DataLoader.__iter__(self)  # workers start here with a copy of the dataset as it is now
        finally:
            dataset.skip_batches = 0
        return self._count(self._track(iterator))

    def _track(self, iterator: Iterator[Batch]) -> Iterator[Batch]:
        for batch in iterator:
            self.consumed += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches": self.consumed, **super().state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = (int(state["epoch"]), int(state["batches"]))
        super().load_state_dict(state)
