"""The layout of a training checkpoint (``.ckpt`` from ``stylegan-t fit``), named in one place.

Lightning's dict holds ``state_dict`` (what was trained: G, its EMA, D's heads), ``optimizer_states``,
``hyper_parameters.recipe`` (the recipe as plain dicts) and our entry ``stylegan_t``: :class:`CheckpointMeta`
(format kind, the LightningModule class, images seen, frozen networks by reference). :data:`PARTS` names every
module of ``StyleGANT`` whose keys the checkpoint holds or leaves out; the module, the converter of original
snapshots, ``model.init_from``, the rehearsal and the readers all compose keys from here.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: ``checkpoint["stylegan_t"]["kind"]``: a training checkpoint written by ``StyleGANT``
CHECKPOINT_KIND = "stylegan_t.training.StyleGANT"
#: the checkpoint's own entry, beside Lightning's keys
CHECKPOINT_META = "stylegan_t"
#: Lightning's keys used here
STATE_DICT = "state_dict"
HYPER_PARAMETERS = "hyper_parameters"
OPTIMIZER_STATES = "optimizer_states"
#: ``{module prefix: reference}`` of frozen networks stored by reference, inside :data:`CHECKPOINT_META`
FROZEN = "frozen"
#: the stock LightningModule, as recipes (``model.module``) and checkpoints name it
STOCK_MODULE = "stylegan_t.training:StyleGANT"


@dataclass(frozen=True)
class Parts:
    """State-dict prefixes of the parts of ``StyleGANT`` (attribute paths on the module)."""

    generator: str = "generator"
    generator_ema: str = "generator_ema.module"
    discriminator: str = "discriminator"
    clip_guidance: str = "clip_guidance"
    #: inside a generator / a discriminator
    text_encoder: str = "mapping.text_encoder"
    feature_network: str = "feature_network"

    def of(self, *names: str) -> str:
        """``of("generator", "text_encoder")`` -> ``"generator.mapping.text_encoder"``."""
        return ".".join(getattr(self, name) for name in names)


PARTS = Parts()
#: the EMA generator's prefix (with the dot) in ``state_dict``: the generator that exports and generates
EMA_PREFIX = PARTS.generator_ema + "."
#: the trained (live) generator's prefix (with the dot) in ``state_dict``
LIVE_PREFIX = PARTS.generator + "."


@dataclass
class CheckpointMeta:
    """``checkpoint["stylegan_t"]``: what a reader needs beyond Lightning's keys."""

    #: ``package.module:Class`` of the LightningModule (recorded, never imported from the file)
    module: str
    images_seen: int = 0
    frozen: dict[str, Any] = field(default_factory=dict)
    kind: str = CHECKPOINT_KIND

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "module": self.module, "images_seen": int(self.images_seen), FROZEN: dict(self.frozen)}

    @classmethod
    def read(cls, ckpt: Mapping[str, Any]) -> CheckpointMeta:
        """From a checkpoint dict already checked to hold a stylegan_t entry (see ``checkpoint_meta``)."""
        meta = ckpt[CHECKPOINT_META]
        return cls(module=meta.get("module") or STOCK_MODULE, images_seen=int(meta.get("images_seen", 0)),
                   frozen=dict(meta.get(FROZEN) or {}), kind=meta.get("kind", CHECKPOINT_KIND))


def lightning_checkpoint(*, state_dict: Mapping[str, Any], optimizer_states: list[dict], hyper_parameters: Mapping[str, Any],
                         meta: CheckpointMeta, epoch: int = 0, global_step: int = 0) -> dict[str, Any]:
    """A whole checkpoint in Lightning's layout, for code that writes one without a Trainer (the snapshot converter)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        lightning_version = version("lightning")
    except PackageNotFoundError:  # converting needs no Lightning; the version only tells Lightning which format this is
        lightning_version = "2.6.0"
    return {
        "epoch": epoch,
        "global_step": global_step,
        "pytorch-lightning_version": lightning_version,
        STATE_DICT: dict(state_dict),
        OPTIMIZER_STATES: list(optimizer_states),
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        HYPER_PARAMETERS: dict(hyper_parameters),
        CHECKPOINT_META: meta.to_dict(),
    }
