"""Pretrain the demo's tiny CLIP on its own captioned scenes, so text features encode colour and shape.

StyleGAN-T relies on a *pretrained* CLIP for its text encoder and guidance; the demo cannot download one, so
it trains a tiny open_clip (``stylegan-t-tiny``) contrastively for a minute and saves it as a ``local-dir:``
folder that the recipe then loads like any other open_clip model.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from ..constants import CLIP_MEAN, CLIP_STD
from ..data.decode import pil_to_tensor
from ..models.open_clip_loader import SHIPPED_CONFIGS, create_open_clip
from .scenes import parse_caption, sample

CONFIG = "stylegan-t-tiny"
VERSION = 2


def _batch(indices: list[int], *, seed: int, resolution: int, layout: str = "positions") -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Images, captions and ``truth[i, j]``: caption ``j`` is a true description of image ``i``."""
    images, captions, scenes = [], [], []
    for i in indices:
        img, caption, scene = sample(i, seed=seed, resolution=resolution, layout=layout)
        images.append(pil_to_tensor(img))
        captions.append(caption)
        scenes.append(scene.attributes)
    asked = [parse_caption(c) for c in captions]
    truth = torch.tensor([[all(scene[k] == v for k, v in want.items()) for want in asked] for scene in scenes])
    return torch.stack(images), captions, truth.float()


def ensure_demo_clip(
    folder: str | Path,
    *,
    steps: int = 400,
    batch_size: int = 96,
    seed: int = 1,
    resolution: int = 32,
    lr: float = 2e-3,
    layout: str = "positions",
) -> str:
    """Train (once) and save the tiny CLIP; returns its ``local-dir:`` spec. Reused when already trained alike."""
    folder = Path(folder)
    params = dict(steps=steps, batch_size=batch_size, seed=seed, resolution=resolution, lr=lr, layout=layout, version=VERSION)
    marker = folder / "demo_clip.json"
    weights = folder / "open_clip_pytorch_model.bin"
    if marker.is_file() and weights.is_file() and json.loads(marker.read_text()).get("params") == params:
        return f"local-dir:{folder}"
    torch.manual_seed(seed)
    model, tokenizer = create_open_clip(CONFIG)
    mean, std = torch.tensor(CLIP_MEAN).reshape(1, 3, 1, 1), torch.tensor(CLIP_STD).reshape(1, 3, 1, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = random.Random(seed)
    model.train()
    for _ in range(steps):
        indices = [rng.randrange(10**7) for _ in range(batch_size)]
        images, captions, truth = _batch(indices, seed=seed + 1, resolution=resolution, layout=layout)
        x = ((images + 1) / 2 - mean) / std
        img_f = F.normalize(model.encode_image(x), dim=-1)
        txt_f = F.normalize(model.encode_text(tokenizer(captions)), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * img_f @ txt_f.t()
        # Every caption that truly describes an image is a positive for it (captions repeat across a batch).
        image_to_text = truth / truth.sum(dim=1, keepdim=True)
        text_to_image = (truth / truth.sum(dim=0, keepdim=True)).t()
        loss = (F.cross_entropy(logits, image_to_text) + F.cross_entropy(logits.t(), text_to_image)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((SHIPPED_CONFIGS / f"{CONFIG}.json").read_text())
    preprocess = {"mean": list(CLIP_MEAN), "std": list(CLIP_STD)}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config, "preprocess_cfg": preprocess}))
    torch.save(model.state_dict(), weights)
    marker.write_text(json.dumps({"params": params, "final_loss": float(loss.detach())}))
    return f"local-dir:{folder}"
