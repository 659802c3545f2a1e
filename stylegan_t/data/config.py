"""Typed data configuration: the recipe's ``data`` section (docs/data.md).

Only types OmegaConf structured configs accept: primitives, ``Optional``/``List`` of them, nested
dataclasses. ``urls`` is ``Any`` because it may be a string or a list of strings; it is checked here.
Each dataclass checks itself in ``validate()`` (called by ``__post_init__``), naming the dotted recipe key;
whether local shard files exist is checked before training (:mod:`stylegan_t.training.preflight`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from ..errors import RecipeError
from ..utils.validation import known_fields, non_negative, positive, require

#: image members looked for in a sample, first match wins
DEFAULT_IMAGE_KEYS = ("jpg", "jpeg", "png", "webp")


def _check_urls(urls: Any, where: str) -> None:
    ok = isinstance(urls, str) or (isinstance(urls, (list, tuple)) and all(isinstance(u, str) for u in urls))
    require(ok, where, f"must be a string or a list of strings, got {urls!r}")


@dataclass
class SourceConfig:
    """One shard source and its sampling weight (``DataConfig.sources``).

    Samples are drawn from the sources in proportion to ``weight`` (per sample, not per shard).
    """

    urls: Any = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "data.sources[]") -> None:
        _check_urls(self.urls, f"{where}.urls")
        positive(self.weight, f"{where}.weight")


@dataclass
class DataConfig:
    """Where image-text shards are and how they are read (docs/data.md).

    ``urls``: a brace pattern (``/data/{00000..09999}.tar``), a glob, a list of them, a folder of ``.tar``
    files, ``pipe:CMD`` (reads CMD's stdout), ``http(s)://`` (through curl) or ``s3://`` (turned into
    ``pipe:aws s3 cp URL -``). A local folder with images and sidecar ``.txt`` files but no ``.tar`` is
    read as an image folder. ``sources``: several such sources mixed per sample by weight (instead of
    ``urls``).
    """

    urls: Any = None
    sources: List[SourceConfig] = field(default_factory=list)
    #: ``txt`` reads ``<key>.txt``; ``json:field.sub`` reads a field of ``<key>.json``; another name reads that member
    caption_key: str = "txt"
    image_keys: List[str] = field(default_factory=lambda: list(DEFAULT_IMAGE_KEYS))
    #: DataLoader worker processes per rank (0 = decode in the training process)
    num_workers: int = 4
    #: raw-sample batches each worker prepares ahead (DataLoader ``prefetch_factor``; workers > 0 only)
    prefetch_factor: int = 2
    #: permute the shard list each epoch (seeded by seed + epoch); the whole list is permuted, no buffer
    shard_shuffle: bool = True
    #: shuffle buffer of *raw* (undecoded) samples per worker; 0 or 1 = no shuffle. Memory per node:
    #: sample_shuffle x bytes per raw sample x num_workers x ranks per node (docs/data.md)
    sample_shuffle: int = 1000
    #: batches per epoch *per rank*: every rank takes exactly this many steps, so DDP never hangs
    batches_per_epoch: int = 1000
    #: draw shards with replacement per (rank, worker, epoch) instead of splitting them disjointly
    resampled: bool = False
    #: seed of the shard and sample shuffles; None = the run's seed
    seed: Optional[int] = None
    #: images whose shorter side is below this are skipped as corrupt (a 1x1 image is skipped)
    min_image_size: int = 8
    #: decode JPEGs at 1/2, 1/4 or 1/8 scale when the short side stays >= the training resolution
    jpeg_draft: bool = True
    #: skipped-sample log lines per worker before only every 1000th is logged
    max_skip_logs: int = 20

    def __post_init__(self) -> None:
        self.sources = [s if isinstance(s, SourceConfig) else SourceConfig(**dict(s)) for s in self.sources]
        self.validate()

    def validate(self, where: str = "data") -> None:
        require(not (self.sources and self.urls is not None), f"{where}.sources",
                "and data.urls are both set: give either one, not both")
        for index, source in enumerate(self.sources):
            source.validate(f"{where}.sources[{index}]")
        if self.urls is not None:
            _check_urls(self.urls, f"{where}.urls")
        key = self.caption_key
        ok = isinstance(key, str) and bool(key) and (not key.startswith("json:") or len(key) > 5)
        require(ok, f"{where}.caption_key", f"must be 'txt', 'json:<field>' or a member name, got {key!r}")
        for name in ("num_workers", "sample_shuffle", "max_skip_logs", "min_image_size"):
            non_negative(getattr(self, name), f"{where}.{name}")
        for name in ("batches_per_epoch", "prefetch_factor"):
            require(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, f"{where}.{name}",
                    f"must be >= 1, got {getattr(self, name)!r}")
        require(bool(self.image_keys), f"{where}.image_keys", "must name at least one image extension")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DataConfig":
        """A DataConfig from a plain dict (unknown keys fail with the valid ones listed)."""
        return cls(**known_fields(cls, data, "data"))

    def all_sources(self) -> list[SourceConfig]:
        """``sources``, or ``urls`` as a single source of weight 1."""
        if self.sources:
            return list(self.sources)
        if self.urls is None:
            raise RecipeError("data.urls is not set: point data.urls (or data.sources) at your shards")
        return [SourceConfig(urls=self.urls, weight=1.0)]
