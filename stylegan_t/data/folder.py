"""A small map-style dataset: a folder of images with sidecar ``.txt`` captions (``cat.jpg`` + ``cat.txt``), and
the writer of such a folder.

For quick experiments and evaluation sets; large datasets belong in shards (``stylegan-t make-shards``).
Images without a non-empty sidecar caption are left out and counted (``num_dropped``); an unreadable or
too-small image is replaced by the next readable one and counted in the batch's ``num_skipped``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from .batch import Batch, DataCounts, make_batch
from .decode import CorruptSample, decode_image
from .sources import IMAGE_SUFFIXES

log = logging.getLogger("stylegan_t.data")


def sidecar_caption(image_path: Path) -> str:
    """The stripped text of ``image_path``'s sidecar ``.txt`` (``cat.jpg`` -> ``cat.txt``); "" when absent."""
    sidecar = image_path.with_suffix(".txt")
    return sidecar.read_text(encoding="utf-8", errors="replace").strip() if sidecar.is_file() else ""


def write_captioned_images(folder: str | Path, samples: Iterable[tuple[Any, str]]) -> Path:
    """Write (PIL image, caption) pairs as ``000000.png`` + ``000000.txt``, ... into ``folder``: the form a user's
    own captioned images take, read back by :func:`find_captioned_images`. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, (image, caption) in enumerate(samples):
        image.save(folder / f"{index:06d}.png")
        (folder / f"{index:06d}.txt").write_text(caption)
    return folder


def find_captioned_images(root: str | Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(image, caption) pairs under ``root`` (recursive, sorted), and the images lacking a caption."""
    pairs: list[tuple[Path, str]] = []
    missing: list[Path] = []
    for path in sorted(p for p in Path(root).expanduser().rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        caption = sidecar_caption(path)
        if caption:
            pairs.append((path, caption))
        else:
            missing.append(path)
    return pairs, missing


class ImageFolderDataset(Dataset):
    """Samples ``{"image": float32 [3,R,R] in [-1,1], "caption": str, "key": str, "num_skipped": int}``."""

    def __init__(self, root: str | Path, *, resolution: int, min_size: int = 8, draft: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.resolution, self.min_size, self.draft = resolution, min_size, draft
        self.items, missing = find_captioned_images(self.root)
        self.num_dropped = len(missing)
        if missing:
            log.warning("data: %d image(s) under %s have no sidecar .txt caption and are left out, e.g. %s",
                        len(missing), self.root, missing[0])
        if not self.items:
            raise ValueError(f"data: no images with sidecar .txt captions under {self.root}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        for offset in range(len(self.items)):
            path, caption = self.items[(index + offset) % len(self.items)]
            try:
                image = decode_image(path.read_bytes(), self.resolution, min_size=self.min_size, draft=self.draft)
            except (CorruptSample, OSError) as err:
                log.warning("data: skipping %s: %s", path, err)
                continue
            key = str(path.relative_to(self.root).with_suffix(""))
            return {"image": image, "caption": caption, "key": key, "num_skipped": offset}
        raise CorruptSample(f"data: no readable image under {self.root}")


def collate_folder(samples: list[dict[str, Any]]) -> Batch:
    """Folder samples -> a :class:`Batch` (``num_dropped`` is 0: the dataset counts those up front)."""
    skipped = sum(s["num_skipped"] for s in samples)
    return make_batch([s["image"] for s in samples], [s["caption"] for s in samples], [s["key"] for s in samples],
                      DataCounts(skipped=skipped))
