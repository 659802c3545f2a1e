"""Robust image decoding: any PIL-readable image to a square float tensor in [-1, 1] (SPEC: "Data")."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageFile

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is corrupt, not silently grey


class CorruptSample(ValueError):
    """A sample that cannot be used (unreadable, too small, no caption); counted and skipped."""


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB from L / P / RGBA (composited on white) / 16-bit / CMYK images."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 or img.mode.startswith("I;16") else 255.0
        return Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def center_crop_resize(img: Image.Image, resolution: int) -> Image.Image:
    """Largest centred square, resized to ``resolution`` with Lanczos (as the original)."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=None if side < 3 * resolution else 3.0)
    return img


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """uint8 RGB PIL -> float32 [3, H, W] in [-1, 1]."""
    arr = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy())
    return arr.permute(2, 0, 1).float() / 127.5 - 1.0


def decode_image(data: bytes, resolution: int, *, min_size: int = 8, draft: bool = True) -> torch.Tensor:
    """Bytes of a jpg/png/webp -> [3, resolution, resolution] in [-1, 1]; raises :class:`CorruptSample`."""
    try:
        img = Image.open(io.BytesIO(data))
        if min(img.size) < min_size:
            raise CorruptSample(f"image too small ({img.size[0]}x{img.size[1]} < {min_size})")
        if draft and img.format == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale while the short side stays >= resolution.
            w, h = img.size
            scale = max(resolution / min(w, h), 1e-6)
            img.draft("RGB", (max(int(w * scale + 0.5), resolution), max(int(h * scale + 0.5), resolution)))
        img.load()
        img = _to_rgb(img)
    except CorruptSample:
        raise
    except Exception as err:  # PIL raises many types for broken files
        raise CorruptSample(f"unreadable image: {type(err).__name__}: {err}") from None
    return pil_to_tensor(center_crop_resize(img, resolution))


def decode_caption(sample: dict, caption_key: str) -> str:
    """``txt`` -> the ``.txt`` member; ``json:field`` -> that field of ``.json``; missing/empty -> CorruptSample."""
    import json

    if caption_key.startswith("json:"):
        raw = sample.get("json")
        if raw is None:
            raise CorruptSample("no .json caption")
        try:
            value = json.loads(raw)
            for part in caption_key[5:].split("."):
                value = value[part]
        except (KeyError, TypeError, ValueError) as err:
            raise CorruptSample(f"caption field {caption_key[5:]!r} missing: {err}") from None
        text = str(value)
    else:
        raw = sample.get(caption_key)
        if raw is None:
            raise CorruptSample(f"no .{caption_key} caption")
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    text = text.strip()
    if not text:
        raise CorruptSample("empty caption")
    return text
