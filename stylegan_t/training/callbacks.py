"""Callbacks: sample grids every N kimg, images/s, stopping at the recipe's total kimg, non-finite losses
(data counts are logged by the module)."""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ..images import image_grid
from ..latents import prompt_seed_grid

log = logging.getLogger(__name__)


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
        images = prompt_seed_grid(module.generator_ema.module, self.prompts, self.seeds,
                                  truncation_psi=self.truncation_psi, device=module.device)
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
    """Logs images/s (all ranks) to the progress bar, and at the end the whole run's: data loading, logging,
    sample grids and checkpoints included, which is what a user waits for."""

    def on_train_start(self, trainer, module) -> None:
        self._run_start, self._run_seen = time.perf_counter(), module.images_seen

    def on_train_end(self, trainer, module) -> None:
        seconds = max(time.perf_counter() - self._run_start, 1e-9)
        images = module.images_seen - self._run_seen
        if trainer.is_global_zero and images:
            print(f"Trained {images / 1000:.1f} kimg in {seconds:.0f} s: {images / seconds:.1f} images/s over the whole run", flush=True)

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


#: losses StyleGANT logs every step (``training_step``); a non-finite value means the step went wrong
LOSS_KEYS = ("loss_D", "loss_G", "loss_clip")


class NonFiniteLossMonitor(L.Callback):
    """Warns (with the step and kimg) and counts every training step whose logged loss is NaN or infinite.

    The count is logged as ``nonfinite_steps`` and kept in checkpoints. Lightning publishes a step's
    logged values only after ``on_train_batch_end``, so each step is checked when the next one starts
    (and at epoch and training end).
    """

    def __init__(self, keys: tuple[str, ...] = LOSS_KEYS) -> None:
        self.keys = tuple(keys)
        self.count = 0
        self.steps: list[int] = []  # this process's offending global steps (the last 100)
        self._pending: tuple[int, float] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = int(state.get("count", 0))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._pending = (trainer.global_step, module.kimg() if hasattr(module, "kimg") else float("nan"))
        module.log("nonfinite_steps", float(self.count), on_step=True, batch_size=1)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._check(trainer)

    def on_train_epoch_end(self, trainer, module) -> None:
        self._check(trainer)

    def on_train_end(self, trainer, module) -> None:
        self._check(trainer)

    def _check(self, trainer: L.Trainer) -> None:
        if self._pending is None:
            return
        step, kimg = self._pending
        self._pending = None
        metrics = trainer.callback_metrics
        bad = {k: float(metrics[k]) for k in self.keys if k in metrics and not math.isfinite(float(metrics[k]))}
        if not bad:
            return
        self.count += 1
        self.steps = (self.steps + [step])[-100:]
        values = ", ".join(f"{k}={v}" for k, v in bad.items())
        log.warning("non-finite loss at global step %d (%.3f kimg): %s; %d non-finite step(s) so far",
                    step, kimg, values, self.count)


class PlainProgressBar(L.pytorch.callbacks.ProgressBar):
    """Lightning's progress bar for a log file: one line every ``every_seconds`` (epoch, batch, kimg, the
    progress-bar metrics), used instead of the tqdm bar when stdout is not a terminal (``stylegan-t fit > log``),
    whose carriage-return frames would fill the log. See :mod:`stylegan_t.utils.progress`."""

    def __init__(self, every_seconds: float | None = None) -> None:
        super().__init__()
        from ..utils.progress import EVERY_SECONDS

        self.every_seconds = EVERY_SECONDS if every_seconds is None else every_seconds
        self._enabled = True
        self._last = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer, module) -> None:
        self._last = time.monotonic()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        now = time.monotonic()
        if self._enabled and trainer.is_global_zero and now - self._last >= self.every_seconds:
            self._last = now
            print(self.line(trainer, module, batch_idx), flush=True)

    def on_train_end(self, trainer, module) -> None:
        if self._enabled and trainer.is_global_zero:
            print(self.line(trainer, module, None) + " (done)", flush=True)

    def line(self, trainer, module, batch_idx: int | None) -> str:
        metrics = {k: v for k, v in self.get_metrics(trainer, module).items() if k != "v_num"}
        shown = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        where = f"Epoch {trainer.current_epoch}" + (f", batch {batch_idx + 1}" if batch_idx is not None else "")
        return f"{where}: {shown}" if shown else where
