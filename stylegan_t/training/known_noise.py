"""Messages from Lightning and torch that a stylegan_t user can do nothing about, silenced where they arise.

Each filter matches one message and says why it does not apply; anything else still reaches the user. Used
around building the Trainer and ``trainer.fit`` (:func:`stylegan_t.training.fit.fit`), never as a global filter.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: (message regex, why it is silenced)
KNOWN_WARNINGS: tuple[tuple[str, str], ...] = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated",
     "Lightning's own pytree helper uses a torch API torch deprecated; only a Lightning release can change it"),
    (r"Your `IterableDataset` has `__len__` defined",
     "the DataModule's length is exact on purpose: every rank and worker reads data.batches_per_epoch batches "
     "from its own share of the shards (docs/scaling.md)"),
    (r"Found \d+ module\(s\) in eval mode at the start of training",
     "the frozen networks (text encoder, discriminator feature network, guidance CLIP) stay in eval mode by design"),
)


#: silenced only when resuming: continuing a run writes into its own checkpoint folder by design; a fresh run
#: into a folder that already holds checkpoints still gets the warning
RESUME_WARNINGS: tuple[tuple[str, str], ...] = (
    (r"Checkpoint directory .* exists and is not empty", "a resumed run continues in its own checkpoint folder"),
)


class _DropTip(logging.Filter):
    """Lightning's advertisement for its cloud logger ("Tip: ... litlogger"), printed on every Trainer."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


@contextmanager
def without_known_noise(*, resuming: bool = False) -> Iterator[None]:
    """Silence :data:`KNOWN_WARNINGS` (and :data:`RESUME_WARNINGS` when ``resuming``) and Lightning's litlogger
    tip inside the block, and nothing else."""
    from lightning_utilities.core import rank_zero

    tip_filter = _DropTip()
    logger = rank_zero.log  # the logger rank_zero_info writes to (Lightning sets it on import)
    logger.addFilter(tip_filter)
    try:
        with warnings.catch_warnings():
            for message, _why in KNOWN_WARNINGS + (RESUME_WARNINGS if resuming else ()):
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        logger.removeFilter(tip_filter)
