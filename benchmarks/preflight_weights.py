"""Time the preflight's reads of the paper's weight files: random-weight ViT-L/14 (``ViT-L-14-quickgelu``) and DINO
ViT-S/16 files of the real architectures, checked for the ``lite-64`` recipe as ``stylegan-t fit`` checks them.

    python benchmarks/preflight_weights.py --dir /tmp/preflight-weights [--format safetensors|pt]

Writes the two files into ``--dir`` (kept for reruns), then prints the seconds of: the file-exists check, the
content check (headers / memory-mapped archives against meta-device architectures), the tensor digest of the
ViT-L/14 file (first time, then from its sidecar). Printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_files(folder: Path, fmt: str) -> tuple[Path, Path]:
    import timm
    import torch
    from safetensors.torch import save_file

    from stylegan_t.models.open_clip_loader import create_open_clip

    folder.mkdir(parents=True, exist_ok=True)
    clip_file = folder / f"ViT-L-14-quickgelu-openai.{fmt}"
    if not clip_file.is_file():
        clip, _ = create_open_clip("ViT-L-14-quickgelu")
        state = {k: v.contiguous() for k, v in clip.state_dict().items()}
        save_file(state, str(clip_file)) if fmt == "safetensors" else torch.save(state, clip_file)
        del clip, state
    dino_file = folder / "dino_vits16.pth"
    if not dino_file.is_file():
        torch.save(timm.create_model("vit_small_patch16_224.dino", pretrained=False, num_classes=0).state_dict(), dino_file)
    return clip_file, dino_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True, help="folder for the random-weight files (not your real weights folder)")
    parser.add_argument("--format", choices=("safetensors", "pt"), default="safetensors")
    args = parser.parse_args()
    clip_file, _ = write_files(args.dir, args.format)
    os.environ["STYLEGAN_T_WEIGHTS"] = str(args.dir)
    from stylegan_t.training.preflight import check_pretrained_files
    from stylegan_t.training.recipe import load_recipe
    from stylegan_t.training.weight_checks import check_weight_contents
    from stylegan_t.utils.weight_files import DIGEST_SUFFIX, weights_sha256

    recipe = load_recipe("lite-64", ["data.urls=/data/unused"])
    timings = {}
    start = time.perf_counter()
    check_pretrained_files(recipe)
    timings["files exist"] = time.perf_counter() - start
    for attempt in ("first", "second"):
        start = time.perf_counter()
        check_weight_contents(recipe)
        timings[f"content check ({attempt})"] = time.perf_counter() - start
    clip_file.with_name(clip_file.name + DIGEST_SUFFIX).unlink(missing_ok=True)
    start = time.perf_counter()
    weights_sha256(clip_file)
    timings["ViT-L/14 tensor digest (computed)"] = time.perf_counter() - start
    from stylegan_t.utils import weight_files

    weight_files._digests.clear()
    start = time.perf_counter()
    weights_sha256(clip_file)
    timings["ViT-L/14 tensor digest (sidecar)"] = time.perf_counter() - start
    size = clip_file.stat().st_size / 2**30
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; ViT-L/14 file {clip_file.name} {size:.2f} GiB")
    for name, seconds in timings.items():
        print(f"{name:40s} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
