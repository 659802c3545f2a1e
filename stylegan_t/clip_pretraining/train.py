"""Contrastive pretraining of a small open_clip model on any image-text shards, saved as a ``local-dir:`` folder.

The objective is open_clip's own :class:`open_clip.loss.ClipLoss` (symmetric InfoNCE over the batch,
Radford et al. 2021), the loss the CLIP models StyleGAN-T builds on were trained with (arXiv 2301.09515,
Section 3): nothing about the data set is assumed beyond image-caption pairs. The output folder holds
``open_clip_config.json`` + ``open_clip_model.safetensors`` (what open_clip's ``local-dir:`` loads, so a
recipe names it as text encoder, feature network and guidance CLIP) and ``pretrain_clip.json`` (settings,
shard fingerprint, held-out retrieval scores), written last: it marks the folder complete and lets a later
call with the same settings and shards reuse the model instead of training again.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..constants import CLIP_MEAN, CLIP_STD
from ..data.sources import is_local_path
from ..images import pretrained_input
from ..models.open_clip_loader import create_open_clip
from ..training.optim import fused_kernel_applies
from ..utils.atomic import atomic_path
from .config import PretrainClipConfig, PretrainClipError, auto_steps
from .data import count_training_samples, find_shards, fingerprint, scan_held_out, training_batches
from .retrieval import embed, retrieval_scores

MARKER = "pretrain_clip.json"
WEIGHTS = "open_clip_model.safetensors"
FORMAT_VERSION = 1


@dataclass
class PretrainClipResult:
    """The ``local-dir:`` spec to put in a recipe, the held-out retrieval scores, and whether it was reused."""

    spec: str
    scores: dict[str, float] = field(default_factory=dict)
    reused: bool = False
    final_loss: float | None = None
    seconds: float = 0.0
    #: optimizer steps trained (``steps: None`` resolved), None when reused from an older folder
    steps: int | None = None


def _architecture(name: str) -> dict:
    import open_clip

    from ..models.open_clip_loader import shipped_config

    config = shipped_config(name) or open_clip.get_model_config(name)
    if config is None:
        raise PretrainClipError(f"pretrain-clip: unknown open_clip architecture {name!r} (e.g. stylegan-t-tiny, ViT-B-32)")
    return config


def _optimizer(model: torch.nn.Module, cfg: PretrainClipConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW without decay on gains, biases and the temperature (as open_clip's training does), on torch's fused
    kernel where it applies; linear warm-up then cosine decay to zero."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "logit_scale" in name or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, fused=fused_kernel_applies(decay + no_decay) or None)
    warmup = max(1, round(cfg.warmup_fraction * cfg.steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, cfg.steps - warmup)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _reusable(out: Path, record: dict) -> dict | None:
    try:
        saved = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return None
    same = all(saved.get(k) == record[k] for k in ("format_version", "settings", "shards"))
    return saved if same and (out / WEIGHTS).is_file() and (out / "open_clip_config.json").is_file() else None


def _save(model: torch.nn.Module, out: Path, architecture: dict, resolution: int) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).unlink(missing_ok=True)  # incomplete until the marker is written again
    preprocess = {"size": resolution, "mean": list(CLIP_MEAN), "std": list(CLIP_STD)}
    (out / "open_clip_config.json").write_text(json.dumps({"model_cfg": architecture, "preprocess_cfg": preprocess}, indent=1))
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(out / WEIGHTS) as tmp:
        save_file(state, str(tmp))


class CaptionTokens:
    """The tokenizer with a memory: small data sets repeat their captions every pass, and open_clip's tokenizer
    (text clean-up, BPE in Python) cost a twentieth of a step. Holds at most ``limit`` captions."""

    def __init__(self, tokenizer, limit: int = 100_000) -> None:
        self.tokenizer, self.limit, self.rows = tokenizer, limit, {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        new = [c for c in dict.fromkeys(captions) if c not in self.rows]
        if len(self.rows) + len(new) > self.limit:
            self.rows.clear()
            new = list(dict.fromkeys(captions))
        if new:
            self.rows.update(zip(new, self.tokenizer(new)))
        return torch.stack([self.rows[c] for c in captions])


def _train(model: torch.nn.Module, tokenizer, batches, cfg: PretrainClipConfig, *, progress: bool) -> float:
    """One step of open_clip's ClipLoss per batch of ``batches`` (``cfg.steps`` of them); returns the last loss."""
    import open_clip

    from ..utils.progress import progress as progress_bar

    loss_fn = open_clip.loss.ClipLoss()
    opt, sched = _optimizer(model, cfg)
    tokens = CaptionTokens(tokenizer)
    model.train()
    loss_value = float("nan")
    with progress_bar(cfg.steps, desc="pretrain-clip", unit="step", disable=not progress) as bar:
        for images, captions in batches:
            pixels = pretrained_input(images, size=images.shape[-1], mean=CLIP_MEAN, std=CLIP_STD)  # decoded at this size
            image_f = model.encode_image(pixels, normalize=True)
            text_f = model.encode_text(tokens(captions), normalize=True)
            loss = loss_fn(image_f, text_f, model.logit_scale.exp())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():  # open_clip's training caps the temperature at 100
                model.logit_scale.clamp_(0, math.log(100))
            loss_value = float(loss.detach())
            bar.set_postfix(loss=f"{loss_value:.3f}")
            bar.update(1)
    return loss_value


def pretrain_clip(
    shards: str | list[str], out: str | Path, cfg: PretrainClipConfig | None = None, *, progress: bool = True, force: bool = False
) -> PretrainClipResult:
    """Train (or reuse) a CLIP on ``shards`` into the folder ``out``; returns its ``local-dir:`` spec and scores.

    Raises :class:`PretrainClipError` for missing or unusable shards and unknown architectures.
    """

    cfg = cfg or PretrainClipConfig()
    out = Path(out).expanduser()
    urls = find_shards(shards)
    record = {"format_version": FORMAT_VERSION, "settings": cfg.as_dict(), "shards": {"count": len(urls), "sha256": fingerprint(urls)}}
    spec = f"local-dir:{out}"
    saved = None if force else _reusable(out, record)
    if saved is not None:
        return PretrainClipResult(spec, saved.get("retrieval", {}), reused=True, final_loss=saved.get("final_loss"),
                                  steps=saved.get("steps"))

    architecture = _architecture(cfg.model)
    size = architecture["vision_cfg"]["image_size"]
    resolution = int(size[0] if isinstance(size, (list, tuple)) else size)
    held_out = scan_held_out(urls, cfg, resolution)
    # the split's size (tar headers only) decides the auto step count and whether it is decoded into memory;
    # remote shards are not read twice for it unless the steps need it
    counted = cfg.steps is None or all(is_local_path(u) for u in urls)
    train_samples = count_training_samples(urls, cfg) if counted else None
    if cfg.steps is None:  # auto: a number of passes over the training split
        cfg = dataclasses.replace(cfg, steps=auto_steps(train_samples, cfg.batch_size))
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        model, tokenizer = create_open_clip(cfg.model)  # random initialisation: it is what we train
        model = model.float()
    loss_value = _train(model, tokenizer, training_batches(urls, cfg, resolution, train_samples=train_samples), cfg, progress=progress)
    model.eval()
    scores: dict[str, float] = {}
    if len(held_out.captions) >= 2:
        features = embed(model, tokenizer, held_out.images, held_out.captions, mean=CLIP_MEAN, std=CLIP_STD)
        scores = retrieval_scores(*features, held_out.captions)
    seconds = time.perf_counter() - start
    _save(model, out, architecture, resolution)
    record.update(final_loss=loss_value, retrieval=scores, train_seconds=round(seconds, 1), resolution=resolution,
                  steps=cfg.steps)
    (out / MARKER).write_text(json.dumps(record, indent=1))
    return PretrainClipResult(spec, scores, reused=False, final_loss=loss_value, seconds=seconds, steps=cfg.steps)
