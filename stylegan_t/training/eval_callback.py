"""FID and CLIP score during training, every N kimg, synced across ranks (issue: in-training metrics)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import torch

from ..latents import seed_latents


class PeriodicMetrics(L.Callback):
    """Every ``every_kimg``: EMA samples for captions of the training stream vs. its real images.

    Real images and captions are taken from the first training batches (``num_samples`` over all ranks; the
    real FID statistics are kept), then each evaluation generates one image per caption with fixed seeds.
    torchmetrics sums the states over ranks, so every rank reports the same numbers.
    """

    def __init__(
        self,
        *,
        every_kimg: float,
        num_samples: int,
        fid: torch.nn.Module | None = None,
        clip_score: torch.nn.Module | None = None,
        truncation_psi: float = 1.0,
        batch_size: int = 32,
        out_file: str | Path | None = None,
    ) -> None:
        if fid is None and clip_score is None:
            raise ValueError("PeriodicMetrics needs a FID and/or a CLIP score metric")
        self.every_kimg = every_kimg
        self.num_samples = num_samples
        self.fid, self.clip_score = fid, clip_score
        self.truncation_psi = truncation_psi
        self.batch_size = batch_size
        self.out_file = Path(out_file) if out_file else None
        self.captions: list[str] = []
        self.history: list[dict] = []
        self._next_kimg = every_kimg

    def _per_rank(self, trainer: L.Trainer) -> int:
        return math.ceil(self.num_samples / trainer.world_size)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for metric in (self.fid, self.clip_score):
            if metric is not None:
                metric.to(pl_module.device)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        need = self._per_rank(trainer) - len(self.captions)
        if need > 0:
            images, captions = batch["image"][:need], list(batch["caption"])[:need]
            if self.fid is not None:
                self.fid.update(images, real=True)
            self.captions += captions
        if module.kimg() >= self._next_kimg and len(self.captions) >= self._per_rank(trainer):
            self.evaluate(trainer, module)
            self._next_kimg = (math.floor(module.kimg() / self.every_kimg) + 1) * self.every_kimg

    @torch.no_grad()
    def evaluate(self, trainer: L.Trainer, module: L.LightningModule) -> dict:
        G = module.generator_ema.module
        for metric in (self.fid, self.clip_score):
            if metric is not None:
                metric.reset()  # FID keeps its real statistics (reset_real_features=False)
        offset = trainer.global_rank * self._per_rank(trainer)
        for start in range(0, len(self.captions), self.batch_size):
            captions = self.captions[start : start + self.batch_size]
            seeds = range(offset + start, offset + start + len(captions))
            z = seed_latents(seeds, G.z_dim, module.device)
            images = G(z, captions, truncation_psi=self.truncation_psi, noise_mode="const").clamp(-1, 1)
            if self.fid is not None:
                self.fid.update(images, real=False)
            if self.clip_score is not None:
                self.clip_score.update(images, captions)
        result = {"kimg": module.kimg()}
        if self.fid is not None:
            result["fid"] = float(self.fid.compute())
        if self.clip_score is not None:
            result["clip_score"] = float(self.clip_score.compute())
        module.log_dict({f"metrics/{k}": v for k, v in result.items() if k != "kimg"}, rank_zero_only=True, batch_size=1)
        self.history.append(result)
        if self.out_file is not None and trainer.global_rank == 0:
            self.out_file.parent.mkdir(parents=True, exist_ok=True)
            with self.out_file.open("a") as f:
                f.write(json.dumps(result) + "\n")
        return result
