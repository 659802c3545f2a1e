"""Start a run from another run's checkpoint (SPEC: progressive growing ``freeze64``, text-encoder phase)."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def load_init_weights(module: torch.nn.Module, path: str | Path) -> dict[str, list[str]]:
    """Copy every tensor of the checkpoint whose key exists in ``module`` (shapes must match).

    Keys only in ``module`` keep their fresh initialisation (e.g. the new 128/256 blocks); keys only in the
    checkpoint are reported. Returns ``{"loaded", "new", "unused"}`` key lists.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.init_from: checkpoint not found at '{path}'")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "stylegan_t" not in ckpt:
        raise ValueError(f"model.init_from: '{path}' is not a stylegan_t training checkpoint")
    state = ckpt["state_dict"]
    own = module.state_dict()
    mismatched = [f"{k}: {list(v.shape)} vs {list(own[k].shape)}" for k, v in state.items() if k in own and v.shape != own[k].shape]
    if mismatched:
        raise ValueError(f"model.init_from: shapes differ between '{path}' and this model:\n" + "\n".join(mismatched))
    loaded = [k for k in state if k in own]
    if not loaded:
        raise ValueError(f"model.init_from: '{path}' shares no weights with this model")
    merged = dict(own)
    merged.update({k: state[k] for k in loaded})
    module.load_state_dict(merged, strict=True)
    report = {"loaded": loaded, "new": sorted(set(own) - set(state)), "unused": sorted(set(state) - set(own))}
    log.info("init_from %s: %d tensors loaded, %d new, %d unused", path, len(loaded), len(report["new"]), len(report["unused"]))
    return report
