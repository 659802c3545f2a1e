"""Write WebDataset test shards, valid samples plus every kind of bad input the pipeline must survive."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "yellow": (230, 220, 20)}


def image_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def valid_sample(index: int, size: int = 24) -> tuple[dict[str, bytes], str]:
    """A solid-colour image whose caption names the colour; jpg and png alternate."""
    name = list(COLORS)[index % len(COLORS)]
    img = Image.new("RGB", (size + index % 5, size), COLORS[name])
    caption = f"sample {index}: a {name} square"
    ext = "jpg" if index % 2 == 0 else "png"
    return {ext: image_bytes(img, "JPEG" if ext == "jpg" else "PNG"), "txt": caption.encode()}, caption


BAD_SAMPLES = ("truncated_jpeg", "no_caption", "grayscale_png", "png16", "rgba", "one_pixel")
#: bad samples the pipeline keeps (decoded to RGB), skips (corrupt) or drops (no caption)
KEPT_BAD = ("grayscale_png", "png16", "rgba")
SKIPPED_BAD = ("truncated_jpeg", "one_pixel")
DROPPED_BAD = ("no_caption",)


def bad_sample(kind: str) -> dict[str, bytes]:
    caption = f"a {kind} image".encode()
    if kind == "truncated_jpeg":
        data = image_bytes(Image.new("RGB", (32, 32), (10, 200, 30)), "JPEG")
        return {"jpg": data[: len(data) // 2], "txt": caption}
    if kind == "no_caption":
        return {"png": image_bytes(Image.new("RGB", (32, 32), (1, 2, 3)))}
    if kind == "grayscale_png":
        return {"png": image_bytes(Image.new("L", (30, 40), 128)), "txt": caption}
    if kind == "png16":
        arr = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60).astype(np.uint16)
        return {"png": image_bytes(Image.fromarray(arr)), "txt": caption}
    if kind == "rgba":
        return {"png": image_bytes(Image.new("RGBA", (32, 32), (255, 0, 0, 0))), "txt": caption}
    if kind == "one_pixel":
        return {"png": image_bytes(Image.new("RGB", (1, 1), (9, 9, 9))), "txt": caption}
    raise ValueError(kind)


def write_test_shards(folder: Path, *, num_shards: int = 4, samples_per_shard: int = 8, include_bad: bool = True) -> dict:
    """Shards ``00000.tar ...`` (+ an empty ``99999.tar`` and the bad samples in shard 0 when ``include_bad``).

    Returns ``{"pattern", "shards", "captions"}`` where ``captions`` lists every caption that must come out.
    """
    folder.mkdir(parents=True, exist_ok=True)
    shards, captions, index = [], [], 0
    for s in range(num_shards):
        path = folder / f"{s:05d}.tar"
        with tarfile.open(path, "w") as tar:
            for _ in range(samples_per_shard):
                members, caption = valid_sample(index)
                for ext, data in members.items():
                    _add(tar, f"{index:06d}.{ext}", data)
                captions.append(caption)
                index += 1
            if include_bad and s == 0:
                for kind in BAD_SAMPLES:
                    for ext, data in bad_sample(kind).items():
                        _add(tar, f"bad_{kind}.{ext}", data)
                    if kind in KEPT_BAD:
                        captions.append(f"a {kind} image")
        (folder / f"{s:05d}_stats.json").write_text(json.dumps({"count": samples_per_shard}))
        shards.append(str(path))
    if include_bad:
        with tarfile.open(folder / "99999.tar", "w"):
            pass
        shards.append(str(folder / "99999.tar"))
    pattern = str(folder / ("{00000..%05d}.tar" % (num_shards - 1)))
    return {"pattern": pattern, "shards": shards, "captions": captions, "folder": str(folder)}
