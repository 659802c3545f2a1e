"""Test utilities: tiny random models written to disk so the real loading code is what runs."""
from __future__ import annotations

import json
from pathlib import Path

import torch

TINY_CLIP_CONFIG = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
    "preprocess_cfg": {},
}


def write_tiny_clip_dir(folder: Path, *, seed: int = 0, config: dict | None = None) -> str:
    """Write a random tiny open_clip model as ``open_clip_config.json`` + weights; return ``local-dir:`` spec."""
    import open_clip

    folder.mkdir(parents=True, exist_ok=True)
    cfg = config or TINY_CLIP_CONFIG
    (folder / "open_clip_config.json").write_text(json.dumps(cfg))
    torch.manual_seed(seed)
    model = open_clip.CLIP(**cfg["model_cfg"])
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return f"local-dir:{folder}"


def tiny_generator(text_encoder, seed: int = 0):
    """A ``tiny`` 16x16 generator whose residual branches and truncation average are visible (layer scale 0.5,
    random ``x_avg``), so that loading the wrong tensors changes its images."""
    from stylegan_t.models import Generator, GeneratorConfig

    torch.manual_seed(seed)
    G = Generator(GeneratorConfig(img_resolution=16, preset="tiny", text_encoder=text_encoder))
    with torch.no_grad():
        for name, p in G.synthesis.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)
        G.mapping.x_avg.normal_()
    return G.eval()


def shared_fixture_dir(name: str, env: str) -> Path:
    """``$env`` or ``../shared/fixtures/<name>`` relative to the repo root (tests skip when it is absent)."""
    import os

    value = os.environ.get(env)
    return Path(value) if value else Path(__file__).resolve().parents[2] / "shared" / "fixtures" / name
