"""Write the procedural dataset as img2dataset-style WebDataset shards, once (cached by parameters)."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from .scenes import sample

MANIFEST = "demo_manifest.json"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # deterministic bytes
    tar.addfile(info, io.BytesIO(data))


def ensure_demo_shards(folder: str | Path, *, num_samples: int = 8192, resolution: int = 32, samples_per_shard: int = 1024, seed: int = 0) -> list[str]:
    """Shards ``00000.tar ...`` with ``<key>.png`` + ``<key>.txt`` and ``<shard>_stats.json``; reused when the
    folder already holds shards made with the same parameters."""
    folder = Path(folder)
    params = {"num_samples": num_samples, "resolution": resolution, "samples_per_shard": samples_per_shard, "seed": seed, "version": 1}
    manifest = folder / MANIFEST
    num_shards = -(-num_samples // samples_per_shard)
    shards = [str(folder / f"{s:05d}.tar") for s in range(num_shards)]
    if manifest.is_file() and json.loads(manifest.read_text()) == params and all(Path(s).is_file() for s in shards):
        return shards
    folder.mkdir(parents=True, exist_ok=True)
    manifest.unlink(missing_ok=True)
    for s, path in enumerate(shards):
        start, stop = s * samples_per_shard, min((s + 1) * samples_per_shard, num_samples)
        with tarfile.open(path, "w") as tar:
            for index in range(start, stop):
                img, caption, _ = sample(index, seed=seed, resolution=resolution)
                buf = io.BytesIO()
                img.save(buf, format="PNG")
                key = f"{index:08d}"
                _add(tar, f"{key}.png", buf.getvalue())
                _add(tar, f"{key}.txt", caption.encode())
        stats = {"count": stop - start, "successes": stop - start, "failed_to_download": 0, "failed_to_resize": 0}
        (folder / f"{s:05d}_stats.json").write_text(json.dumps(stats))
    manifest.write_text(json.dumps(params))  # written last: an interrupted run regenerates
    return shards
