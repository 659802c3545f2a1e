"""Captions to generate from when evaluating: a text file, a JSON list, or MS-COCO's captions JSON."""
from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..errors import UserError


def coco_captions(data: dict[str, Any], *, seed: int = 0) -> list[str]:
    """One caption per COCO image: image ids sorted, shuffled with ``random.Random(seed)``, then one caption of
    each drawn with the same generator (whitespace collapsed). The first 30000 are the recipe's captions file."""
    by_image: dict[Any, list[str]] = defaultdict(list)
    for ann in data["annotations"]:
        caption = " ".join(str(ann["caption"]).split())
        if caption:
            by_image[ann["image_id"]].append(caption)
    rng = random.Random(seed)
    ids = sorted(by_image)
    rng.shuffle(ids)
    return [rng.choice(by_image[i]) for i in ids]


def _json_captions(path: Path, text: str) -> tuple[list[str], str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"captions file '{path}' is not valid JSON: {err}") from None
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        try:
            return coco_captions(data), "MS-COCO captions JSON, one caption per image"
        except (KeyError, TypeError) as err:
            raise UserError(f"captions file '{path}': COCO annotations need 'image_id' and 'caption' ({err})") from None
    if isinstance(data, list) and all(isinstance(c, str) for c in data):
        captions = [" ".join(c.split()) for c in data]
        return [c for c in captions if c], "JSON list"
    raise UserError(f"captions file '{path}': expected a COCO captions JSON (with 'annotations') or a JSON list of strings")


def read_captions(path: str | os.PathLike) -> tuple[list[str], str]:
    """Captions of a file and a short description of its kind; :class:`UserError` when missing or unusable."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"captions file not found: '{path}'")
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() == ".json":
        captions, kind = _json_captions(path, text)
    else:
        captions, kind = [line.strip() for line in text.splitlines() if line.strip()], "text file, one caption per line"
    if not captions:
        raise UserError(f"captions file '{path}' holds no caption")
    return captions, kind
