"""Start a run from another run's checkpoint (progressive growing with ``freeze64``, the text-encoder phase)."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..persistence import CheckpointLoadError, CheckpointNotFoundError, FileDigests, load_state_strict
from ..persistence.checkpoint import init_state, verify_frozen
from ..persistence.references import make_reference, spec_weights_file

log = logging.getLogger(__name__)
_TOWER = "generator.mapping.text_encoder."


def load_init_weights(module: torch.nn.Module, path: str | Path) -> dict[str, list[str]]:
    """Copy every tensor of the checkpoint whose key exists in ``module`` (shapes must match).

    Keys only in ``module`` keep their fresh initialisation (e.g. the new 128/256 blocks) or come from their
    reference (frozen networks); keys only in the checkpoint are reported. A text tower the checkpoint stores by
    value (it was trained) replaces the reference one. Returns ``{"loaded", "new", "unused"}`` key lists.
    """
    path = Path(path)
    try:
        state, frozen = init_state(path)
    except CheckpointNotFoundError as err:
        raise CheckpointNotFoundError(f"model.init_from: checkpoint not found at '{path}'") from err
    except CheckpointLoadError as err:
        raise CheckpointError(f"model.init_from: '{path}' is not a stylegan_t training checkpoint: {err}") from err
    if any(k.startswith(_TOWER) for k in state) and _TOWER[:-1] not in frozen:
        module.keep_tower_by_value()
    _verify_references(module, frozen, source=f"model.init_from '{path}'")
    own = module.state_dict()
    loaded = [k for k in state if k in own]
    if not loaded:
        raise CheckpointError(f"model.init_from: '{path}' shares no weights with this model")
    load_state_strict(module, {k: state[k] for k in loaded}, source=f"model.init_from '{path}'", partial=True)
    report = {"loaded": loaded, "new": sorted(set(own) - set(state)), "unused": sorted(set(state) - set(own))}
    log.info("init_from %s: %d tensors loaded, %d new, %d unused", path, len(loaded), len(report["new"]), len(report["unused"]))
    return report


def _verify_references(module: torch.nn.Module, frozen: dict, *, source: str) -> None:
    """Networks the checkpoint names by reference are not copied: they must be the ones this model built."""
    current = module.frozen_references() if hasattr(module, "frozen_references") else {}
    te = getattr(getattr(module, "generator", None), "text_encoder", None)
    if te is not None and _TOWER[:-1] in frozen and _TOWER[:-1] not in current:  # the tower trains in this run
        spec = {"network": "text_encoder", **te.spec()}
        current[_TOWER[:-1]] = make_reference(spec, spec_weights_file(spec), te, FileDigests())
    verify_frozen({k: v for k, v in frozen.items() if k in current or k == _TOWER[:-1]}, current, source=source)
