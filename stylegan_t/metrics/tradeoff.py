"""FID / CLIP score over truncation psi (paper Sec. 4.2: the FID-CLIP score trade-off curve).

:func:`evaluate_tradeoff` accumulates real-image features once, then for each psi generates the same
seeds and captions, and computes the metrics; :func:`save_results_json` and :func:`plot_tradeoff`
write the results. The plot is drawn with PIL (no matplotlib dependency).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from .clip_score import OpenCLIPScore
from .fid import FID

GenerateFn = Callable[[list[str], list[int], float], torch.Tensor]

CLIP_SCORE_CONVENTION = (
    "clip_score: mean raw cosine similarity between CLIP image and caption embeddings, as the original "
    "StyleGAN-T reports it; clip_score_x100: 100 x the same number, torchmetrics' CLIPScore convention"
)


def _real_batch(item: Any) -> torch.Tensor:
    """Images from one item of a real-image iterator: a tensor, ``(images, ...)`` or ``{"image": ...}``."""
    if isinstance(item, torch.Tensor):
        return item
    if isinstance(item, dict):
        for key in ("image", "images", "jpg", "png"):
            if key in item:
                return item[key]
        raise KeyError(f"real-image batch dict has no 'image' entry (keys: {sorted(item)})")
    if isinstance(item, (tuple, list)) and item and isinstance(item[0], torch.Tensor):
        return item[0]
    raise TypeError(f"cannot take images from a real-image batch of type {type(item).__name__}")


def accumulate_reals(fid: FID, real_images: Iterable[Any], *, num_real: int | None = None) -> int:
    """Feed real batches (uint8 or [-1, 1]) to ``fid`` until ``num_real`` images (all if None); return the count."""
    seen = 0
    for item in real_images:
        images = _real_batch(item)
        if num_real is not None:
            images = images[: num_real - seen]
        if len(images):
            fid.update(images, real=True)
            seen += len(images)
        if num_real is not None and seen >= num_real:
            break
    return seen


@torch.no_grad()
def evaluate_tradeoff(
    generate: GenerateFn,
    *,
    captions: Sequence[str],
    num_samples: int,
    truncations: Sequence[float] = (1.0,),
    fid: FID | None = None,
    clip_score: OpenCLIPScore | None = None,
    real_images: Iterable[Any] | None = None,
    num_real: int | None = None,
    batch_size: int = 32,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """FID and/or CLIP score of ``num_samples`` generated images for each truncation psi.

    Sample ``i`` uses caption ``captions[i % len(captions)]`` and seed ``seed + i`` at every psi, so the
    curve compares the same latents. ``generate(captions, seeds, psi)`` returns uint8 or ``[-1, 1]``
    images. Reals: ``real_images`` (batches: tensors, ``(images, ...)`` or ``{"image": ...}``, up to
    ``num_real`` images) are added to ``fid`` once; without them ``fid`` must already hold real
    statistics (:meth:`FID.load_real_statistics`). Under DDP pass ``rank`` / ``world_size``: each rank
    generates samples ``rank, rank + world_size, ...`` (give each rank its own share of reals) and the
    metrics all-reduce in ``compute()``. Returns a JSON-ready dict with one row per psi.
    """
    if fid is None and clip_score is None:
        raise ValueError("evaluate_tradeoff needs at least one of fid, clip_score")
    if not captions:
        raise ValueError("captions is empty")
    say = log or (lambda message: None)
    result: dict[str, Any] = {"num_samples": num_samples, "seed": seed, "rows": []}
    if fid is not None:
        if real_images is not None:
            accumulate_reals(fid, real_images, num_real=num_real)
        with fid.sync_context(dist_sync_fn=fid.dist_sync_fn, process_group=fid.process_group):
            result["num_real"] = int(fid.real_features_num_samples)
        say(f"real images: {result['num_real']}")
    if clip_score is not None:
        result["clip_score_convention"] = CLIP_SCORE_CONVENTION
    mine = list(range(rank, num_samples, world_size))
    reset_real = fid.reset_real_features if fid is not None else True
    try:
        if fid is not None:
            fid.reset_real_features = False  # keep the real statistics across psi values
        for psi in truncations:
            if fid is not None:
                fid.reset()
            if clip_score is not None:
                clip_score.reset()
            for start in range(0, len(mine), batch_size):
                index = mine[start : start + batch_size]
                batch_captions = [captions[i % len(captions)] for i in index]
                images = generate(batch_captions, [seed + i for i in index], float(psi))
                if fid is not None:
                    fid.update(images, real=False)
                if clip_score is not None:
                    clip_score.update(images, batch_captions)
            row: dict[str, float] = {"truncation_psi": float(psi)}
            if fid is not None:
                row["fid"] = float(fid.compute())
            if clip_score is not None:
                raw = float(clip_score.compute()) / clip_score.scale
                row["clip_score"] = raw
                row["clip_score_x100"] = 100.0 * raw
            result["rows"].append(row)
            say("  ".join(f"{k}={v:.4f}" for k, v in row.items()))
    finally:
        if fid is not None:
            fid.reset_real_features = reset_real
    return result


def save_results_json(result: dict[str, Any], path: str | os.PathLike, **extra: Any) -> Path:
    """Write ``result`` (plus ``extra`` entries, e.g. the checkpoint path) as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, **extra}, indent=2) + "\n")
    return path


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 x 10^k) covering ``[lo, hi]``."""
    if not hi - lo > 1e-6 * max(1.0, abs(lo), abs(hi)):  # equal (or equal up to float noise): pad the range
        pad = max(abs(lo) * 0.05, 1e-3)
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks = [first]
    while ticks[-1] < hi - 1e-9 * step:
        ticks.append(ticks[-1] + step)
    return [round(t, 10) for t in ticks]


AXIS_LABELS = {
    "fid": "FID",
    "clip_score": "CLIP score (mean cosine)",
    "clip_score_x100": "CLIP score (100 x cosine)",
    "truncation_psi": "truncation psi",
}


def _label(value: float, ticks: list[float]) -> str:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    return f"{value:.{decimals}f}"


def plot_tradeoff(
    result: dict[str, Any],
    path: str | os.PathLike,
    *,
    x_key: str | None = None,
    y_key: str | None = None,
    size: tuple[int, int] = (640, 480),
    title: str = "FID-CLIP trade-off over truncation psi",
) -> Path:
    """PNG of ``y_key`` against ``x_key`` (default: FID against CLIP score), one labelled point per psi.

    With only one metric in ``result`` it is plotted against the truncation psi.
    """
    from PIL import Image, ImageDraw, ImageFont

    rows = result["rows"]
    present = [k for k in ("fid", "clip_score") if any(k in r for r in rows)]
    if y_key is None:
        y_key = present[0] if present else "fid"
    if x_key is None:
        x_key = "clip_score" if len(present) == 2 else "truncation_psi"
    points = [(r[x_key], r[y_key], r["truncation_psi"]) for r in rows
              if math.isfinite(r.get(x_key, math.nan)) and math.isfinite(r.get(y_key, math.nan))]
    if not points:
        raise ValueError(f"no finite ({x_key}, {y_key}) values to plot")

    width, height = size
    left, right, top, bottom = 80, 30, 40, 60
    xt = _nice_ticks(min(p[0] for p in points), max(p[0] for p in points))
    yt = _nice_ticks(min(p[1] for p in points), max(p[1] for p in points))

    def to_px(x: float, y: float) -> tuple[float, float]:
        px = left + (x - xt[0]) / (xt[-1] - xt[0]) * (width - left - right)
        py = height - bottom - (y - yt[0]) / (yt[-1] - yt[0]) * (height - top - bottom)
        return px, py

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    black, grey, blue = (0, 0, 0), (225, 225, 225), (31, 119, 180)
    for t in xt:  # vertical grid + x tick labels
        px, _ = to_px(t, yt[0])
        draw.line([(px, top), (px, height - bottom)], fill=grey)
        draw.line([(px, height - bottom), (px, height - bottom + 5)], fill=black)
        draw.text((px, height - bottom + 8), _label(t, xt), fill=black, font=font, anchor="mt")
    for t in yt:  # horizontal grid + y tick labels
        _, py = to_px(xt[0], t)
        draw.line([(left, py), (width - right, py)], fill=grey)
        draw.line([(left - 5, py), (left, py)], fill=black)
        draw.text((left - 8, py), _label(t, yt), fill=black, font=font, anchor="rm")
    draw.rectangle([left, top, width - right, height - bottom], outline=black)

    pixels = [to_px(x, y) for x, y, _ in points]
    if len(pixels) > 1:
        draw.line(pixels, fill=blue, width=2)
    for (px, py), (_, _, psi) in zip(pixels, points):
        draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=blue, outline=black)
        draw.text((px + 7, py - 7), f"psi={psi:g}", fill=black, font=font, anchor="lb")

    draw.text((width / 2, 12), title, fill=black, font=font, anchor="mt")
    draw.text(((left + width - right) / 2, height - 18), AXIS_LABELS.get(x_key, x_key), fill=black, font=font, anchor="mm")
    y_label = Image.new("RGB", (height - top - bottom, 20), "white")
    ImageDraw.Draw(y_label).text((y_label.width / 2, 10), AXIS_LABELS.get(y_key, y_key), fill=black, font=font, anchor="mm")
    image.paste(y_label.rotate(90, expand=True), (8, top))

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
