"""Training throughput of a recipe on this machine: images/s, s/kimg and peak memory from a short real ``fit``.

    python benchmarks/train_throughput.py lite-64 --batches 20 trainer.strategy=ddp run.compile=true
    python benchmarks/train_throughput.py tiny-cpu --batches 3 --resolution 16     # CPU, CI-sized

Writes random JPEG shards (nothing downloaded), trains ``--batches`` iterations on one device and times the
iterations after the first ``--warmup`` (compilation, cudnn autotuning). Pretrained weights come from the
recipe's files as in a real run (``benchmarks/gpu.sh`` points them at the rehearsal's random weights).
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import time
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylegan_t.training.fit import fit  # noqa: E402
from stylegan_t.training.recipe import load_recipe  # noqa: E402


def write_random_shards(folder: Path, resolution: int, count: int) -> Path:
    """One shard of ``count`` random JPEG + caption samples (webdataset layout)."""
    import webdataset as wds
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    with wds.TarWriter(str(folder / "00000.tar")) as sink:
        for i in range(count):
            img = (torch.rand(resolution, resolution, 3, generator=gen) * 255).to(torch.uint8).numpy()
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=90)
            sink.write({"__key__": f"{i:06d}", "jpg": buf.getvalue(), "txt": f"a photo of thing {i}"})
    return folder


class IterationTimer(L.Callback):
    """Wall time of each training iteration (batch start to batch end, devices synchronised)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def _sync(self, module: L.LightningModule) -> None:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._sync(module)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._sync(module)
        self.seconds.append(time.perf_counter() - self._start)


def peak_memory_mib() -> float:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="section.key=value recipe overrides")
    parser.add_argument("--work-dir", type=Path, default=Path("runs/bench-throughput"))
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="per-device batch (default: the micro-batch)")
    parser.add_argument("--label", default="")
    parser.add_argument("--json", type=Path, default=None, help="append the result as one JSON line")
    args = parser.parse_intermixed_args(argv)
    recipe = load_recipe(args.recipe, args.overrides)
    res = recipe.model.generator.img_resolution
    batch = args.batch_size or recipe.optim.micro_batch_size
    shards = write_random_shards(args.work_dir / "shards", res, max(batch * 2, 8))
    total = args.warmup + args.batches
    recipe = load_recipe(args.recipe, args.overrides + [
        f"data.urls={shards}", "data.num_workers=0", "data.sample_shuffle=1", f"data.batches_per_epoch={total}",
        f"optim.batch_size={batch}", f"optim.micro_batch_size={min(batch, recipe.optim.micro_batch_size)}",
        f"run.dir={args.work_dir / 'run'}", f"run.total_kimg={total * batch / 1000}", "run.sample_every_kimg=1e9",
        "trainer.devices=1", "trainer.enable_progress_bar=false", "trainer.logger=false",
    ])
    timer = IterationTimer()
    model, trainer = fit(recipe, extra_callbacks=[timer])
    timed = sorted(timer.seconds[args.warmup:]) or sorted(timer.seconds)
    median = timed[len(timed) // 2]
    result = {
        "label": args.label or f"{args.recipe} {trainer.strategy.__class__.__name__} {trainer.precision}",
        "images_per_s": batch / median, "s_per_kimg": median / batch * 1000, "peak_mib": peak_memory_mib(),
        "first_iteration_s": timer.seconds[0] if timer.seconds else float("nan"), "batch": batch,
        "compile": recipe.run.compile, "precision": str(trainer.precision),
    }
    if trainer.global_rank == 0:
        print(f"{result['label']}: {result['images_per_s']:.2f} img/s, {result['s_per_kimg']:.1f} s/kimg, "
              f"peak {result['peak_mib']:.0f} MiB, first iteration {result['first_iteration_s']:.1f} s (batch {batch})")
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(result) + "\n")
    return result


if __name__ == "__main__":
    main()
