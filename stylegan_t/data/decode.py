"""Robust decoding of one image-text sample (docs/data.md).

Images: any PIL-readable jpg/png/webp (grayscale, palette, 16-bit, RGBA, CMYK, EXIF-rotated) to RGB,
center-cropped to a square and resized to the training resolution with Lanczos (as the original release), as
float32 ``[3, R, R]`` in ``[-1, 1]``. Transparent pixels are composited on *white* (alpha is not dropped:
dropping it would expose whatever colour the transparent pixels happen to store). JPEGs are decoded at
1/2, 1/4 or 1/8 scale by libjpeg (``Image.draft``) when the short side stays at least the target size.

Failures raise :class:`CorruptSample` (skipped and counted by the pipeline) or :class:`MissingCaption`
(dropped and counted); both subclass ``ValueError``.
"""
from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps


class CorruptSample(ValueError):
    """A sample that cannot be used: unreadable or too small image, no image member. Skipped and counted."""


class ImageTooSmall(CorruptSample):
    """The image's shorter side is below ``min_size`` (e.g. a 1x1 tracking pixel): skipped, not upscaled."""


class MissingCaption(CorruptSample):
    """No caption, or an empty one. The pipeline *drops* these (counted apart from corrupt ones)."""


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any mode: L/P/1/CMYK/YCbCr, 16-bit and float grayscale (rescaled), alpha on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            peak = 1.0 if arr.max(initial=0.0) <= 1.0 else 255.0
        else:  # 16-bit PNGs open as I;16 or I; values up to 65535
            peak = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0.0) > 255 else 255.0
        arr = np.clip(arr * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def open_image(data: bytes, *, min_size: int = 8, draft_size: int | None = None) -> Image.Image:
    """Fully decoded RGB image from encoded bytes; raises :class:`CorruptSample`.

    ``draft_size``: let libjpeg decode a JPEG at reduced scale while its short side stays >= this.
    """
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if min(w, h) < min_size:
            raise ImageTooSmall(f"image too small ({w}x{h}, shorter side < {min_size})")
        if draft_size and img.format == "JPEG" and min(w, h) >= 2 * draft_size:
            scale = draft_size / min(w, h)
            img.draft("RGB", (max(round(w * scale), draft_size), max(round(h * scale), draft_size)))
        img.load()
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # a broken EXIF block must not lose an otherwise good image
            pass
        return to_rgb(img)
    except CorruptSample:
        raise
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
        raise CorruptSample(f"unreadable image: {type(err).__name__}: {err}") from None


def center_crop_resize(img: Image.Image, resolution: int) -> Image.Image:
    """The largest centred square, resized to ``resolution`` x ``resolution`` with Lanczos."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))  # crop first: the filter must not see the cut-off sides
    if side == resolution:
        return img
    # reducing_gap: box-reduce to >= 3x the target first (PIL: indistinguishable from full Lanczos in most
    # cases), much faster for large inputs.
    return img.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=3.0)


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 RGB PIL image -> float32 ``[3, H, W]`` in ``[-1, 1]``."""
    arr = torch.from_numpy(np.array(img, dtype=np.uint8, copy=True))
    return arr.permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def decode_image(data: bytes, resolution: int, *, min_size: int = 8, draft: bool = True) -> torch.Tensor:
    """Encoded jpg/png/webp bytes -> float32 ``[3, resolution, resolution]`` in ``[-1, 1]``."""
    img = open_image(data, min_size=min_size, draft_size=resolution if draft else None)
    return pil_to_tensor(center_crop_resize(img, resolution))


def decode_caption(sample: dict[str, Any], caption_key: str = "txt") -> str:
    """The caption of a raw sample; raises :class:`MissingCaption` when absent or empty.

    ``txt`` (or any member name) reads that member as UTF-8; ``json:a.b`` reads field ``b`` of field ``a``
    of the ``.json`` member.
    """
    if caption_key.startswith("json:"):
        raw = sample.get("json")
        if raw is None:
            raise MissingCaption("no .json member for the caption")
        try:
            value: Any = json.loads(raw)
            for part in caption_key[5:].split("."):
                value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise MissingCaption(f"caption field {caption_key[5:]!r} missing in .json ({type(err).__name__})") from None
        if value is None:
            raise MissingCaption(f"caption field {caption_key[5:]!r} is null")
        text = value if isinstance(value, str) else str(value)
    else:
        raw = sample.get(caption_key)
        if raw is None:
            raise MissingCaption(f"no .{caption_key} caption")
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
    text = text.strip()
    if not text:
        raise MissingCaption("empty caption")
    return text


def find_image(sample: dict[str, Any], image_keys: list[str] | tuple[str, ...]) -> tuple[str, bytes]:
    """(extension, bytes) of the first image member present; raises :class:`CorruptSample` when none is."""
    for key in image_keys:
        data = sample.get(key)
        if data is not None:
            return key, data
    present = sorted(k for k in sample if not k.startswith("__"))
    raise CorruptSample(f"no image member (looked for {list(image_keys)}, found {present})")
