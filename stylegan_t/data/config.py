"""Typed data configuration (recipe section ``data``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional


@dataclass
class SourceConfig:
    """One shard source and its sampling weight (used with ``DataConfig.sources``)."""

    urls: Any = None
    weight: float = 1.0


@dataclass
class DataConfig:
    """Where shards are and how they are read.

    ``urls``: a brace pattern (``/data/{00000..00099}.tar``), a list of them, a folder of ``.tar`` files,
    ``pipe:...`` commands, http(s) URLs, or ``s3://`` URLs (read through ``pipe:aws s3 cp URL -``).
    ``sources``: several such sources mixed with sampling weights (instead of ``urls``).
    ``caption_key``: ``txt`` (``<key>.txt``) or ``json:<field>`` (a field of ``<key>.json``).
    """

    urls: Any = None
    sources: List[SourceConfig] = field(default_factory=list)
    caption_key: str = "txt"
    image_keys: List[str] = field(default_factory=lambda: ["jpg", "jpeg", "png", "webp"])
    num_workers: int = 4
    #: shuffle the shard list per epoch (seeded by seed + epoch)
    shard_shuffle: bool = True
    #: raw samples held in the shuffle buffer (before decoding), per worker
    sample_shuffle: int = 1000
    #: batches per epoch per rank: every rank does the same number of steps, so DDP never hangs
    batches_per_epoch: int = 1000
    #: images smaller than this (either side) are skipped as corrupt
    min_image_size: int = 8
    #: decode JPEGs at reduced size when the target resolution is small (PIL draft mode)
    jpeg_draft: bool = True
    #: log at most this many skipped-sample messages per worker (then every 1000th)
    max_skip_logs: int = 20
    #: optional override of the pipeline's seed (default: the run's seed)
    seed: Optional[int] = None
