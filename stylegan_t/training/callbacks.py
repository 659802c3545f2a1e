"""Callbacks: sample grids every N kimg, images/s, and stopping at the recipe's total kimg."""
from __future__ import annotations

import math
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

from ..images import image_grid


class SampleGrid(L.Callback):
    """Every ``every_kimg``, a grid of EMA samples (rows = prompts, columns = seeds) to PNG and the logger."""

    def __init__(
        self, *, out_dir: str | Path, prompts: list[str], seeds: list[int], every_kimg: float, truncation_psi: float = 1.0
    ) -> None:
        self.out_dir = Path(out_dir)
        self.prompts, self.seeds = list(prompts), list(seeds)
        self.every_kimg = every_kimg
        self.truncation_psi = truncation_psi
        self._next_kimg = 0.0
        self.written: list[Path] = []

    def _write(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        images = module.sample(self.prompts, self.seeds, truncation_psi=self.truncation_psi)
        if trainer.global_rank != 0:
            return
        grid = image_grid(images, cols=len(self.seeds)).convert("RGB")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"samples-{module.images_seen:010d}img.png"
        grid.save(path)
        self.written.append(path)
        experiment = getattr(trainer.logger, "experiment", None)
        if hasattr(experiment, "add_image"):
            experiment.add_image("samples", torch.from_numpy(np.array(grid)).permute(2, 0, 1), module.images_seen)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.kimg() >= self._next_kimg:
            self._write(trainer, module)
            self._next_kimg = (math.floor(module.kimg() / self.every_kimg) + 1) * self.every_kimg

    def on_train_end(self, trainer, module) -> None:
        self._write(trainer, module)


class Throughput(L.Callback):
    """Logs images/s (all ranks) to the progress bar."""

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._start, self._seen = time.perf_counter(), module.images_seen

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        seconds = max(time.perf_counter() - self._start, 1e-9)
        module.log("img_s", (module.images_seen - self._seen) / seconds, prog_bar=True, on_step=True, batch_size=1)


class FinalCheckpoint(L.Callback):
    """Writes ``path`` (the run's ``last.ckpt``) when training ends, wherever it stopped: Lightning's
    ``ModelCheckpoint`` only saves at its epoch interval, so a run ending mid-interval would lose its last steps."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_train_end(self, trainer, module) -> None:
        # Full state (optimizers too, so runs resume from it). Collective: every rank calls it, the strategy writes.
        trainer.save_checkpoint(self.path, weights_only=False)


class StopAtKimg(L.Callback):
    """Stops training once ``total_kimg`` thousand images have been seen over all ranks."""

    def __init__(self, total_kimg: float) -> None:
        self.total_kimg = total_kimg

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.kimg() >= self.total_kimg:
            trainer.should_stop = True
