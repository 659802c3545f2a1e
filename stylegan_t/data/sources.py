"""Shard URLs: expansion of brace patterns, globs, lists and folders; which shards a rank and worker read;
reading a tar (local, pipe:, http(s), ...) into raw samples.

URL forms (docs/data.md): local paths, ``file:``, ``pipe:CMD``, ``http(s)://`` and the other schemes
webdataset's ``gopen`` knows, and ``s3://`` which becomes ``pipe:aws s3 cp URL -`` (webdataset 1.0 has no
s3 scheme). Several patterns may be joined in one string with ``::`` (as webdataset does).
"""
from __future__ import annotations

import glob
import os
import random
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from braceexpand import braceexpand

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def _as_list(urls: Any) -> list[str]:
    if urls is None:
        return []
    if isinstance(urls, (str, os.PathLike)):
        return [part for part in os.fspath(urls).split("::")]
    if isinstance(urls, Iterable):
        out: list[str] = []
        for item in urls:
            out += _as_list(item)
        return out
    raise TypeError(f"shard urls must be a string or a list of strings, got {type(urls).__name__}")


def is_local_path(url: str) -> bool:
    """A plain file path: no ``scheme://`` and no ``pipe:`` / ``file:`` prefix."""
    return "://" not in url and not url.startswith(("pipe:", "file:"))


def expand_urls(urls: Any) -> list[str]:
    """Every shard URL named by ``urls``, in order; a local folder gives its ``*.tar`` files sorted."""
    shards: list[str] = []
    for pattern in _as_list(urls):
        pattern = pattern.strip()
        if not pattern:
            continue
        for url in braceexpand(pattern):
            if url.startswith("s3://"):
                shards.append(f"pipe:aws s3 cp {url} -")
                continue
            if not is_local_path(url):
                shards.append(url)
                continue
            path = os.path.expanduser(url)
            if os.path.isdir(path):
                shards += sorted(str(p) for p in Path(path).glob("*.tar"))
            elif glob.has_magic(path):
                shards += sorted(glob.glob(path))
            else:
                shards.append(path)
    return shards


def is_image_folder(urls: Any) -> bool:
    """True for one local folder that holds images but no ``.tar`` shards (read by the folder dataset)."""
    items = _as_list(urls)
    if len(items) != 1 or not is_local_path(items[0]):
        return False
    folder = Path(items[0]).expanduser()
    if not folder.is_dir() or any(folder.glob("*.tar")):
        return False
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*"))


def epoch_order(shards: list[str], *, seed: int, epoch: int, shuffle: bool, repeat: int = 0) -> list[str]:
    """The shard list for ``epoch`` (and its ``repeat``-th pass): the same permutation on every rank and
    worker, seeded by seed + epoch, so splitting it gives disjoint shares."""
    order = list(shards)
    if shuffle:
        random.Random(f"shards-{seed}-{epoch}-{repeat}").shuffle(order)
    return order


def slot_share(num_shards: int, *, slot: int, num_slots: int) -> tuple[list[int], bool]:
    """Which shard indices the (rank, worker) ``slot`` of ``num_slots`` reads, and whether it splits by sample.

    With at least one shard per slot, shards are dealt round-robin (disjoint, every sample kept). With fewer
    shards than slots, every slot reads every shard and keeps every ``num_slots``-th sample instead, which is
    still disjoint (costs extra reading, only happens for small datasets).
    """
    if num_shards >= num_slots:
        return list(range(slot, num_shards, num_slots)), False
    return list(range(num_shards)), True


# --- reading shards ----------------------------------------------------------------------------------------


def _open_url(url: str):
    """A binary stream for a shard URL: local files directly (works under WDS_SECURE), others via gopen."""
    if is_local_path(url):
        return open(url, "rb")
    if url.startswith("file:"):
        return open(url[5:].removeprefix("//"), "rb")
    from webdataset.gopen import gopen  # pipe:, http(s) (curl), gs, ...

    return gopen(url, "rb")


def split_member_name(name: str) -> tuple[str | None, str]:
    """``dir/abc.seg.jpg`` -> (``dir/abc``, ``seg.jpg``): key up to the first dot of the basename (webdataset rule)."""
    head, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    if not dot or not stem:
        return None, ""
    return (f"{head}/{stem}" if head else stem), ext.lower()


def read_tar_samples(
    url: str, *, keep: set[str] | None = None, on_error: Callable[[str, Exception], None] | None = None
) -> Iterator[dict]:
    """Raw samples ``{"__key__", "__url__", ext: bytes}`` of one tar, members grouped by key.

    Only extensions in ``keep`` are stored (smaller shuffle buffers). A tar that cannot be opened or breaks
    midway calls ``on_error`` (or raises without one); samples read before the break are still yielded.
    An empty tar yields nothing.
    """
    current: dict | None = None
    stream = None
    failed = False
    try:
        stream = _open_url(url)
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for info in tar:
                if not info.isreg():
                    continue
                key, ext = split_member_name(info.name)
                if key is None or key.rpartition("/")[2].startswith("__"):
                    continue
                if current is not None and key != current["__key__"]:
                    yield current
                    current = None
                if current is None:
                    current = {"__key__": key, "__url__": url}
                if keep is None or ext in keep:
                    member = tar.extractfile(info)
                    current[ext] = member.read() if member is not None else b""
    except Exception as err:  # broken/truncated tar, failing pipe, network error: lose the rest of this shard
        if on_error is None:
            raise
        failed = True
        on_error(url, err)
    finally:
        if stream is not None:
            try:
                stream.close()
            except Exception as err:  # a pipe: command that exited non-zero reports here
                if on_error is not None and not failed:
                    on_error(url, err)
    if current is not None:
        yield current
