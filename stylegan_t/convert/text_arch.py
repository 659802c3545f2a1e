"""Name the open_clip architecture of a snapshot's text tower from its recorded shapes (no code is run).

The original generator keeps an open_clip ``CLIP`` (visual tower removed) under ``mapping.clip.model``; its
text transformer is fully described by a few shapes. :func:`match_open_clip_architecture` finds the open_clip
model configuration (built in, or shipped with stylegan_t) whose text tower is the same.
"""
from __future__ import annotations

import json
from typing import Any

from ..errors import CheckpointError
from .safe_pickle import Record, children, state_dict, submodule

#: text_cfg fields compared, with open_clip's defaults
_TEXT_DEFAULTS = {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12, "mlp_ratio": 4.0}
#: text_cfg fields that change the text tower beyond the compared shapes: configs setting them never match
_UNSUPPORTED = ("hf_model_name", "ls_init_value", "no_causal_mask", "embed_cls", "proj_bias", "final_ln_after_pool",
                "norm_kwargs", "act_kwargs", "attn_pooler_heads", "proj_type", "output_tokens")


def infer_text_config(model: Record) -> dict[str, Any]:
    """``{"embed_dim", "quick_gelu", "pool_type", text_cfg fields...}`` of an open_clip text tower record."""
    weights = state_dict(model)
    try:
        vocab, width = weights["token_embedding.weight"].shape
        context = weights["positional_embedding"].shape[0]
        embed_dim = weights["text_projection"].shape[-1]
    except KeyError as err:
        raise CheckpointError(f"the snapshot's text encoder has no {err} tensor: not an open_clip text tower") from None
    blocks = [block for _, block in children(submodule(model, "transformer.resblocks"))]
    if not blocks:
        raise CheckpointError("the snapshot's text encoder has no transformer blocks")
    first = dict(children(blocks[0]))
    mlp = dict(children(first["mlp"]))
    hidden = state_dict(mlp["c_fc"])["weight"].shape[0]
    return {
        "embed_dim": int(embed_dim),
        "quick_gelu": mlp["gelu"].qualname.endswith("QuickGELU"),
        "pool_type": str(model.attrs.get("text_pool_type", "argmax")),
        "layer_scale": "ls_1" in first and not first["ls_1"].qualname.endswith("Identity"),
        "context_length": int(context),
        "vocab_size": int(vocab),
        "width": int(width),
        "heads": int(first["attn"].attrs.get("num_heads", 0)),
        "layers": len(blocks),
        "mlp_ratio": hidden / width,
    }


def _config_text(cfg: dict[str, Any]) -> dict[str, Any] | None:
    text = dict(cfg.get("text_cfg") or {})
    if any(text.get(k) for k in _UNSUPPORTED) or text.get("pool_type", "argmax") != "argmax":
        return None
    out = {k: text.get(k, default) for k, default in _TEXT_DEFAULTS.items()}
    out["mlp_ratio"] = float(out["mlp_ratio"])
    return {**out, "embed_dim": cfg.get("embed_dim"), "quick_gelu": bool(cfg.get("quick_gelu", False)),
            "pool_type": "argmax", "layer_scale": False}


def known_architectures() -> dict[str, dict[str, Any]]:
    """open_clip's built-in model configs and those shipped with stylegan_t, by name (nothing is registered)."""
    import open_clip

    from ..models.open_clip_loader import SHIPPED_CONFIGS

    configs = {name: open_clip.get_model_config(name) for name in open_clip.list_models()}
    for path in sorted(SHIPPED_CONFIGS.glob("*.json")):
        configs.setdefault(path.stem, json.loads(path.read_text()))
    return {name: cfg for name, cfg in configs.items() if cfg}


def match_open_clip_architecture(config: dict[str, Any]) -> str | None:
    """A known architecture whose text tower equals ``config`` (:func:`infer_text_config`).

    Several share one text tower (e.g. ViT-L-14-quickgelu and RN50x16-quickgelu); the text encoder is the same
    function whichever is named, so prefer our default, then ViT models, then the shortest name.
    """
    from ..models.config import TextEncoderConfig

    default = TextEncoderConfig().model
    matches = [name for name, cfg in known_architectures().items() if _config_text(cfg) == config]
    return min(matches, key=lambda n: (n != default, not n.startswith("ViT-"), len(n), n)) if matches else None
