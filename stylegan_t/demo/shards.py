"""The demo dataset as WebDataset shards in the img2dataset layout (the layout the original release reads), made once per folder.

``00000.tar, 00001.tar, ...`` hold ``<key>.png`` (the image), ``<key>.txt`` (the caption) and
``<key>.json`` (caption and drawn attributes), with ``00000_stats.json ...`` beside them. A manifest
written last records the parameters and the size of every tar: a later call with the same parameters
and intact files returns at once; different parameters or a missing / truncated file regenerate.
"""
from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from ..data.tarfiles import add_member, atomic_tar
from .scenes import LAYOUTS, sample

MANIFEST = "demo_manifest.json"
FORMAT_VERSION = 1  # bump when the renderer or the captions change, so cached shards are rebuilt


def _write_shard(path: Path, indices: range, *, seed: int, resolution: int, position_prob: float, layout: str) -> None:
    with atomic_tar(path) as tar:  # a shard is either complete or absent
        for index in indices:
            image, caption, scene = sample(index, seed=seed, resolution=resolution, position_prob=position_prob, layout=layout)
            png = io.BytesIO()
            image.save(png, format="PNG")
            key = f"{index:09d}"
            meta = {"key": key, "caption": caption, "attributes": scene.attributes, "width": resolution, "height": resolution}
            add_member(tar, f"{key}.png", png.getvalue())
            add_member(tar, f"{key}.txt", caption.encode("utf-8"))
            add_member(tar, f"{key}.json", json.dumps(meta).encode("utf-8"))


def _read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _intact(folder: Path, manifest: dict) -> bool:
    for name, size in manifest.get("shards", {}).items():
        tar, stats = folder / name, folder / name.replace(".tar", "_stats.json")
        if not (tar.is_file() and tar.stat().st_size == size and stats.is_file()):
            return False
    return True


def ensure_demo_shards(
    folder: str | os.PathLike,
    *,
    num_samples: int = 8192,
    resolution: int = 32,
    samples_per_shard: int = 1024,
    seed: int = 0,
    position_prob: float = 0.5,
    layout: str = "positions",
) -> list[str]:
    """Write (or reuse) the demo shards in ``folder``; returns the tar paths in order.

    Sample ``i`` is :func:`stylegan_t.demo.scenes.sample` ``(i, seed=seed, ...)``, so the data depend on the
    parameters only. ``position_prob`` is the share of captions that also name the position; ``layout`` is
    ``positions`` (five spots) or ``centered`` (larger shapes near the middle, position never named).
    """
    if num_samples < 1 or samples_per_shard < 1:
        raise ValueError("num_samples and samples_per_shard must be positive")
    if not 0.0 <= position_prob <= 1.0:
        raise ValueError(f"position_prob must be in [0, 1], got {position_prob}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    folder = Path(folder)
    params = {
        "format_version": FORMAT_VERSION,
        "num_samples": num_samples,
        "resolution": resolution,
        "samples_per_shard": samples_per_shard,
        "seed": seed,
        "position_prob": position_prob,
        "layout": layout,
    }
    num_shards = -(-num_samples // samples_per_shard)
    names = [f"{s:05d}.tar" for s in range(num_shards)]
    previous = _read_manifest(folder)
    if previous is not None and previous.get("params") == params and _intact(folder, previous):
        return [str(folder / name) for name in names]

    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # until the new set is complete
    if previous is not None:  # shards of an earlier, larger set would otherwise linger and be read
        for name in set(previous.get("shards", {})) - set(names):
            (folder / name).unlink(missing_ok=True)
            (folder / name.replace(".tar", "_stats.json")).unlink(missing_ok=True)
    sizes = {}
    for s, name in enumerate(names):
        start = time.perf_counter()
        indices = range(s * samples_per_shard, min((s + 1) * samples_per_shard, num_samples))
        _write_shard(folder / name, indices, seed=seed, resolution=resolution, position_prob=position_prob, layout=layout)
        count = len(indices)
        stats = {
            "count": count,
            "successes": count,
            "failed_to_download": 0,
            "failed_to_resize": 0,
            "duration": round(time.perf_counter() - start, 3),
            "status_dict": {"success": count},
            "generator": "stylegan_t.demo",
        }
        (folder / name.replace(".tar", "_stats.json")).write_text(json.dumps(stats, indent=1))
        sizes[name] = (folder / name).stat().st_size
    manifest = {"params": params, "shards": sizes, "num_samples": num_samples}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))  # last: marks the set complete
    return [str(folder / name) for name in names]
