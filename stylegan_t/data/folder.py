"""A small map-style dataset: a folder of images with sidecar ``.txt`` captions (``cat.jpg`` + ``cat.txt``)."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .decode import CorruptSample, decode_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
log = logging.getLogger("stylegan_t.data")


class ImageFolderDataset(Dataset):
    """Images under ``root`` (recursively) that have a non-empty sidecar caption; others are counted and left out."""

    def __init__(self, root: str | Path, *, resolution: int, min_size: int = 8) -> None:
        self.root = Path(root).expanduser()
        self.resolution = resolution
        self.min_size = min_size
        self.items: list[tuple[Path, str]] = []
        self.num_dropped = 0
        for path in sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            caption_file = path.with_suffix(".txt")
            caption = caption_file.read_text(encoding="utf-8", errors="replace").strip() if caption_file.is_file() else ""
            if caption:
                self.items.append((path, caption))
            else:
                self.num_dropped += 1
        if not self.items:
            raise ValueError(f"no images with sidecar .txt captions under {self.root}")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        """A valid sample; an unreadable image is replaced by the next readable one and counted."""
        for offset in range(len(self.items)):
            path, caption = self.items[(index + offset) % len(self.items)]
            try:
                image = decode_image(path.read_bytes(), self.resolution, min_size=self.min_size)
                return {"image": image, "caption": caption, "num_skipped": offset, "num_dropped": 0}
            except CorruptSample as err:
                log.warning("skipping %s: %s", path, err)
        raise RuntimeError(f"no readable image under {self.root}")


def collate_folder(samples: list[dict]) -> dict:
    return {
        "image": torch.stack([s["image"] for s in samples]),
        "caption": [s["caption"] for s in samples],
        "num_skipped": sum(s["num_skipped"] for s in samples),
        "num_dropped": 0,
    }
