"""Check WebDataset shards the way training reads them: per shard, how many samples are usable, unreadable or
caption-less, and whether the tar itself is damaged or cut short (docs/data.md)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import DEFAULT_IMAGE_KEYS
from .decode import CorruptSample, MissingCaption, decode_caption, find_image, open_image
from .sources import expand_urls, is_local_path

# --- checking -------------------------------------------------------------------------------------------


@dataclass
class ShardReport:
    """Per-shard counts: ``ok + unreadable + no_caption == samples``; ``error`` when the tar itself broke."""

    url: str
    samples: int = 0
    ok: int = 0
    unreadable: int = 0
    no_caption: int = 0
    error: str | None = None
    #: samples the shard's ``_stats.json`` says were written (local shards; None without one)
    expected: int | None = None
    problems: list[str] = field(default_factory=list)  # "key: reason", the first few

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_shard(
    url: str, *, caption_key: str = "txt", image_keys: Sequence[str] = DEFAULT_IMAGE_KEYS, min_size: int = 8, max_problems: int = 10
) -> ShardReport:
    """Read one shard the way training does (caption first, then a full image decode)."""
    from .sources import read_tar_samples

    report = ShardReport(url)
    errors: list[str] = []
    keep = set(image_keys) | {"json" if caption_key.startswith("json:") else caption_key}
    last_bad: str | None = None  # the last sample's problem count ("no_caption" / "unreadable"), if any
    for sample in read_tar_samples(url, keep=keep, on_error=lambda _url, err: errors.append(f"{type(err).__name__}: {err}")):
        report.samples += 1
        try:
            decode_caption(sample, caption_key)
            open_image(find_image(sample, image_keys)[1], min_size=min_size)
            report.ok += 1
            last_bad = None
            continue
        except MissingCaption as err:
            report.no_caption += 1
            reason, last_bad = str(err), "no_caption"
        except CorruptSample as err:
            report.unreadable += 1
            reason, last_bad = str(err), "unreadable"
        if len(report.problems) < max_problems:
            report.problems.append(f"{sample['__key__']}: {reason}")
    cut = _cut_short(url)
    if cut and not errors:
        errors.append(cut)
        if last_bad is not None:  # the sample the cut went through: part of the damage, not a bad sample
            setattr(report, last_bad, getattr(report, last_bad) - 1)
            report.samples -= 1
            if report.problems:
                report.problems.pop()
    if errors:
        report.error = "; ".join(errors)
    report.expected = _stats_successes(url)
    if (report.error in (None, cut)) and report.expected is not None and report.samples != report.expected:
        # A tar cut at a member boundary reads as a shorter, valid tar; the stats file tells.
        stats = f"{report.samples} samples but its _stats.json says {report.expected} were written"
        report.error = f"{cut}: {stats}" if report.error else stats
    return report


def _cut_short(url: str) -> str | None:
    """Why a local tar is cut short, or None. A complete tar ends with two zero blocks (1024 bytes); a copy cut
    at a member boundary still reads as a valid, shorter tar whose last sample lacks its later files."""
    if not is_local_path(url):
        return None
    try:
        with open(url, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(size - 1024, 0))
            tail = f.read()
    except OSError:
        return None
    if size >= 1024 and size % 512 == 0 and not tail.strip(b"\0"):
        return None
    return "cut short (no tar end marker)"


def _stats_successes(url: str) -> int | None:
    if not is_local_path(url):
        return None
    path = Path(url)
    stats = path.with_name(path.name.removesuffix(".tar") + "_stats.json")
    try:
        value = json.loads(stats.read_text()).get("successes")
    except (OSError, ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, (int, float)) else None


def check_shards(
    urls: Any, *, caption_key: str = "txt", image_keys: Sequence[str] = DEFAULT_IMAGE_KEYS, min_size: int = 8, workers: int = 1
) -> list[ShardReport]:
    """:func:`check_shard` for every shard ``urls`` names (same URL forms as training), in order."""
    shards = expand_urls(urls)
    if not shards:
        raise ValueError(f"no shards found for {urls!r}")
    kwargs = {"caption_key": caption_key, "image_keys": tuple(image_keys), "min_size": min_size}
    if workers <= 1 or len(shards) == 1:
        return [check_shard(url, **kwargs) for url in shards]
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(partial(check_shard, **kwargs), shards))
