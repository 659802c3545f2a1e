"""The one batch type every data producer yields, and the one counts type for what the data side skipped.

Batches are plain dicts at run time (so they collate, pin and move like any batch); :class:`Batch` gives
them a type. The ``num_*`` fields count what was skipped / dropped since the same producer's previous
batch, so summing them over the batches a rank consumed gives that rank's exact totals: that sum is a
:class:`DataCounts`, kept by the loader, saved in its state, and only logged by the LightningModule.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, TypedDict

import torch


class Batch(TypedDict):
    """``image``: float32 ``[B, 3, R, R]`` in ``[-1, 1]``; ``caption`` / ``key``: B strings; ``num_skipped``
    (unreadable samples), ``num_dropped`` (samples without caption), ``num_shard_errors`` (broken shards)."""

    image: torch.Tensor
    caption: list[str]
    key: list[str]
    num_skipped: int
    num_dropped: int
    num_shard_errors: int


@dataclass
class DataCounts:
    """Counts of one rank's (or one worker's) data: batches and samples delivered, samples skipped (corrupt),
    dropped (no caption), and shard read errors."""

    batches: int = 0
    samples: int = 0
    skipped: int = 0
    dropped: int = 0
    shard_errors: int = 0

    def add_batch(self, batch: Batch) -> None:
        """Add one batch: its samples and the skip / drop / error counts it carries."""
        self.batches += 1
        self.samples += len(batch["caption"])
        self.skipped += int(batch.get("num_skipped", 0))
        self.dropped += int(batch.get("num_dropped", 0))
        self.shard_errors += int(batch.get("num_shard_errors", 0))

    def since(self, earlier: DataCounts) -> DataCounts:
        """What was counted after ``earlier`` (a copy of these counts taken before)."""
        return DataCounts(**{k: v - getattr(earlier, k) for k, v in asdict(self).items()})

    def copy(self) -> DataCounts:
        return DataCounts(**asdict(self))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> DataCounts:
        names = {f.name for f in fields(cls)}
        return cls(**{k: int(v) for k, v in state.items() if k in names})


def make_batch(images: Sequence[torch.Tensor], captions: list[str], keys: list[str], new: DataCounts) -> Batch:
    """A :class:`Batch` of stacked images, with ``new``'s skip / drop / error counts."""
    return Batch(
        image=torch.stack(list(images)),
        caption=captions,
        key=keys,
        num_skipped=new.skipped,
        num_dropped=new.dropped,
        num_shard_errors=new.shard_errors,
    )
