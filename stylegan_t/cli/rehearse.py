"""Rehearse a paper recipe as a user runs it, without the real weights: fit -> resume -> export -> generate.

The real architectures (ViT-L/14 text tower and guidance CLIP, DINO ViT-S/16) get RANDOM weights written
to the files a user would put in the weights folder (only where no file exists yet); the recipe itself is
not changed except for the run size (batch 2, one iteration, then one more after resuming), the device
and tiny generated shards. Every weights field stays as the recipe writes it, so a network the recipe
leaves unset fails the rehearsal in the preflight (never random by omission).

Command line (also used by the GPU check script)::

    stylegan-t rehearse RECIPE [RECIPE ...] --weights-dir DIR --work-dir DIR
        [--small] [--accelerator cpu|gpu] [--precision 32-true|bf16-mixed|...] [--micro-batch 1|2]

``RECIPE``: ``lite-64``, ``full-64``, ``full-256-freeze64``, ``full-512-freeze64``, ``text-encoder`` (or a
YAML path). A recipe with ``model.init_from`` starts from the previous stage's rehearsal checkpoint in
``--work-dir`` (rehearsed first when missing: full-64 before full-256-freeze64 and text-encoder).
``--weights-dir`` must not be the real weights folder (random files would sit next to real ones); a
``REHEARSAL-RANDOM-WEIGHTS.txt`` marker is written there. ``--small`` swaps in tiny architectures (generator
preset ``tiny``, ``stylegan-t-tiny`` CLIPs, a 4-block ViT) with the same weight tags: the CI form. Prints
one line per step, the checkpoint size and the parameter counts; a failed step is one line, exit 2.
"""
from __future__ import annotations

import argparse
import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..training.recipe import Recipe, load_recipe
from ..utils.local_files import RANDOM, WEIGHTS_ENV

#: the stage whose checkpoint a recipe's ``model.init_from`` names (paper App. A: progressive growing, text-encoder phase)
PREVIOUS_STAGE = {"full-256-freeze64": "full-64", "full-512-freeze64": "full-256-freeze64", "text-encoder": "full-64"}
MARKER = "REHEARSAL-RANDOM-WEIGHTS.txt"
#: tiny architectures for the CI form; weights fields are untouched
SMALL_OVERRIDES = [
    "model.generator.preset=tiny",
    "model.generator.text_encoder.model=stylegan-t-tiny",
    "model.discriminator.feature_network.model=vit_small_patch16_224",
    "model.discriminator.feature_network.taps=[1,3]",
    "model.discriminator.feature_network.timm_kwargs="
    "{img_size: 32, patch_size: 8, embed_dim: 32, depth: 4, num_heads: 2, mlp_ratio: 2.0}",
    "loss.clip_model=stylegan-t-tiny",
]


@dataclass
class RehearsalReport:
    """What one rehearsal produced (paths on disk) and measured."""

    recipe: str
    checkpoint: Path
    export: Path
    images: list[Path]
    checkpoint_bytes: int
    parameters: dict[str, int] = field(default_factory=dict)
    #: frozen networks the checkpoint stores by reference: state-dict prefix -> the weights file it names
    frozen: dict[str, str | None] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class RehearsalError(UserError):
    """A rehearsal step did not do what a user's run must do."""


def write_random_weights(recipe: Recipe, folder: Path) -> list[Path]:
    """Random weights of the recipe's real architectures, saved where a user puts the real files (tags in the
    weights folder); existing files are kept. Returns the files written."""
    from ..models.discriminator.feature_networks import FEATURE_WEIGHT_TAGS
    from ..training.preflight import open_clip_networks

    written = []
    for _, _, model, pretrained in open_clip_networks(recipe):
        if pretrained and pretrained != RANDOM and os.sep not in pretrained and not model.startswith("local-dir:"):
            target = folder / f"{model}-{pretrained}.safetensors"
            if not any(target.with_suffix(s).is_file() for s in (".safetensors", ".bin", ".pt", ".pth")):
                written.append(_save_random_open_clip(model, target))
    fn = recipe.model.discriminator.feature_network
    if fn.kind == "vit" and fn.weights in FEATURE_WEIGHT_TAGS:
        target = folder / f"{FEATURE_WEIGHT_TAGS[fn.weights][0]}.pth"
        if not target.is_file():
            import timm
            import torch

            vit = timm.create_model(fn.model, pretrained=False, num_classes=0, **dict(fn.timm_kwargs))
            torch.save(vit.state_dict(), target)
            written.append(target)
    return written


def _save_random_open_clip(model: str, target: Path) -> Path:
    from safetensors.torch import save_file

    from ..models.open_clip_loader import create_open_clip

    clip, _ = create_open_clip(model, None)
    save_file({k: v.detach().contiguous() for k, v in clip.state_dict().items()}, str(target))
    del clip
    gc.collect()
    return target


def write_shards(folder: Path, resolution: int, *, count: int = 8) -> Path:
    """A few captioned random images turned into shards with ``make_shards`` (what ``stylegan-t make-shards`` runs)."""
    import numpy as np
    from PIL import Image

    from ..data.shard_tools import make_shards

    raw, shards = folder / "images", folder / "shards"
    if any(shards.glob("*.tar")):
        return shards
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, size=(resolution, resolution, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(raw / f"{index:04d}.png")
        (raw / f"{index:04d}.txt").write_text(f"a photo of object number {index}")
    make_shards(raw, shards, shard_size=count, resolution=resolution)
    return shards


def run_overrides(
    recipe: Recipe, *, shards: Path, run_dir: Path, accelerator: str, precision: str | None, micro_batch: int
) -> list[str]:
    """Batch 2, one iteration, on one device; the recipe's models and weights untouched."""
    return [
        f"data.urls={shards}", "data.num_workers=0", "data.sample_shuffle=1", "data.batches_per_epoch=1",
        "optim.batch_size=2", f"optim.micro_batch_size={micro_batch}", f"run.dir={run_dir}", "run.total_kimg=0.002",
        "run.sample_every_kimg=0.002", "run.sample_prompts=[a red car]", "run.sample_seeds=[0]",
        f"trainer.accelerator={accelerator}", "trainer.devices=1", "trainer.num_nodes=1", "trainer.strategy=auto",
        f"trainer.precision={precision or ('32-true' if accelerator == 'cpu' else recipe.trainer.precision)}",
        "trainer.enable_progress_bar=false", "trainer.logger=false",
    ]


def _cli(argv: list[str]) -> None:
    from .main import main

    status = main(argv)
    if status not in (0, None):
        raise RehearsalError(f"stylegan-t {argv[0]} exited {status}")


def _images_seen(path: Path) -> int:
    from ..persistence import read_training_checkpoint

    return int(read_training_checkpoint(path, mmap=True)["stylegan_t"]["images_seen"])


def _frozen_files(path: Path) -> dict[str, str | None]:
    """State-dict prefix -> weights file of every frozen network the checkpoint stores by reference."""
    from ..persistence import read_training_checkpoint

    frozen = read_training_checkpoint(path, mmap=True)["stylegan_t"].get("frozen", {})
    return {prefix: ref.get("file") for prefix, ref in frozen.items()}


#: parts of a training checkpoint counted separately (first matching prefix wins)
PARTS = ("generator.mapping.text_encoder", "generator_ema.module.mapping.text_encoder", "discriminator.feature_network",
         "generator", "generator_ema", "discriminator")


def _parameter_counts(path: Path) -> dict[str, int]:
    """Parameters per part of a training checkpoint (buffers included); parts not in PARTS by first name."""
    from ..persistence import read_training_checkpoint

    state = read_training_checkpoint(path, mmap=True)["state_dict"]
    counts: dict[str, int] = {}
    for key, value in state.items():
        name = next((p for p in PARTS if key.startswith(p + ".")), key.split(".")[0])
        counts[name] = counts.get(name, 0) + value.numel()
    return counts


def _check_weights_folder(weights: Path) -> None:
    """Random files must never land next to real ones: not the default folder, and empty or ours."""
    if weights == (Path.home() / ".cache" / "stylegan_t").resolve():
        raise RehearsalError(f"refusing to write random weights into the default weights folder {weights}")
    if weights.is_dir() and any(weights.iterdir()) and not (weights / MARKER).is_file():
        raise RehearsalError(f"{weights} holds files but no {MARKER}: give an empty folder for the random weights")


def rehearse(
    name: str, *, weights: Path, work: Path, small: bool = False, accelerator: str = "cpu",
    precision: str | None = None, micro_batch: int = 2, extra: list[str] | None = None, log=print,
) -> RehearsalReport:
    """fit (1 iteration) -> ``--resume last`` (1 more) -> export -> generate, through the ``stylegan-t`` commands."""
    weights, work = Path(weights).resolve(), Path(work).resolve()
    _check_weights_folder(weights)
    weights.mkdir(parents=True, exist_ok=True)
    (weights / MARKER).write_text("Random weights written by `stylegan-t rehearse`. Never train with them.\n")
    saved = os.environ.get(WEIGHTS_ENV)
    os.environ[WEIGHTS_ENV] = str(weights)  # the stylegan-t commands resolve weight tags here, as for a user
    try:
        return _rehearse(name, weights, work, small=small, accelerator=accelerator, precision=precision,
                         micro_batch=micro_batch, extra=extra, log=log)
    finally:
        if saved is None:
            os.environ.pop(WEIGHTS_ENV, None)
        else:
            os.environ[WEIGHTS_ENV] = saved


def _rehearse(name: str, weights: Path, work: Path, *, small: bool, accelerator: str, precision: str | None,
              micro_batch: int, extra: list[str] | None, log) -> RehearsalReport:
    overrides = (SMALL_OVERRIDES if small else []) + list(extra or [])
    recipe = load_recipe(name, overrides)
    if recipe.model.init_from:
        stage = PREVIOUS_STAGE.get(Path(name).stem)
        previous = work / (stage or "") / "checkpoints" / "last.ckpt"
        if stage and not previous.is_file():
            _rehearse(stage, weights, work, small=small, accelerator=accelerator, precision=precision,
                      micro_batch=micro_batch, extra=extra, log=log)
        overrides.append(f"model.init_from={previous}")
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    for path in write_random_weights(recipe, weights):
        log(f"[{name}] wrote random weights {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    shards = write_shards(work / "data" / str(recipe.model.generator.img_resolution), recipe.model.generator.img_resolution)
    seconds["setup"] = time.perf_counter() - start
    run_dir = work / Path(name).stem
    base = overrides + run_overrides(recipe, shards=shards, run_dir=run_dir, accelerator=accelerator, precision=precision,
                                     micro_batch=micro_batch)
    last = run_dir / "checkpoints" / "last.ckpt"
    from ..training.preflight import preflight

    preflight(load_recipe(name, base))  # what `stylegan-t fit` checks first; raises the library error itself
    for step, argv, seen in (("fit", ["fit", name, *base], 2),
                             ("resume", ["fit", name, *base, "run.total_kimg=0.004", "--resume", "last"], 4)):
        start = time.perf_counter()
        _cli(argv)
        gc.collect()
        seconds[step] = time.perf_counter() - start
        if not last.is_file() or _images_seen(last) != seen:
            raise RehearsalError(f"[{name}] {step}: expected {last} with {seen} images seen")
        log(f"[{name}] {step}: {seen} images seen, {seconds[step]:.0f} s")
    export = work / f"{Path(name).stem}.safetensors"
    start = time.perf_counter()
    _cli(["export", str(last), str(export)])
    seconds["export"] = time.perf_counter() - start
    outdir = work / f"{Path(name).stem}-generated"
    start = time.perf_counter()
    device = "cuda" if accelerator == "gpu" else "cpu"
    _cli(["generate", str(export), "--prompt", "a red car", "--seeds", "0", "--outdir", str(outdir), "--device", device])
    seconds["generate"] = time.perf_counter() - start
    images = sorted(outdir.glob("*.png"))
    if not images:
        raise RehearsalError(f"[{name}] generate wrote no PNG to {outdir}")
    report = RehearsalReport(name, last, export, images, last.stat().st_size, _parameter_counts(last), _frozen_files(last),
                             seconds)
    counts = ", ".join(f"{k} {v / 1e6:.1f}M" for k, v in sorted(report.parameters.items()))
    log(f"[{name}] checkpoint {last} is {report.checkpoint_bytes / 2**20:.1f} MiB; parameters: {counts}")
    refs = ", ".join(f"{k} -> {Path(v).name if v else 'random'}" for k, v in sorted(report.frozen.items()))
    log(f"[{name}] frozen networks stored by reference: {refs}")
    log(f"[{name}] export {export.stat().st_size / 2**20:.1f} MiB, generated {images[0]}; seconds: "
        + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipes", nargs="+", help="paper recipes to rehearse, in order")
    parser.add_argument("--weights-dir", required=True, type=Path, help="folder for the random weights files (not your real one)")
    parser.add_argument("--work-dir", required=True, type=Path, help="folder for shards, runs, exports and images")
    parser.add_argument("--small", action="store_true", help="tiny architectures, same weight tags (the CI form)")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--precision", default=None, help="default: 32-true on cpu, the recipe's on gpu")
    parser.add_argument("--micro-batch", type=int, default=2, choices=(1, 2))


def run(args: argparse.Namespace) -> int:
    for name in args.recipes:
        rehearse(name, weights=args.weights_dir, work=args.work_dir, small=args.small, accelerator=args.accelerator,
                 precision=args.precision, micro_batch=args.micro_batch, log=lambda line: print(line, flush=True))
    return 0
