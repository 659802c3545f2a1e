"""Convert the original release's training snapshots (``network-snapshot-NNNNNN.pkl``) into our networks.

The snapshot is read by :mod:`.safe_pickle` (no code from it runs, no original source tree needed); the
generator's configuration is inferred from the recorded modules and tensor shapes, and the existing
state-dict converters (:mod:`.generator`, :mod:`.discriminator`) build our ``Generator`` and
``ProjectedDiscriminator`` from the collected state dicts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ..models.discriminator import DEFAULT_DIFFAUG, DiscriminatorConfig, FeatureNetworkConfig, ProjectedDiscriminator
from ..models.generator import Generator
from ..persistence.strict import StateMismatchError
from .discriminator import discriminator_from_official
from .generator import generator_from_official
from .safe_pickle import Record, children, is_module_record, safe_load, state_dict, submodule
from .text_arch import infer_text_config, match_open_clip_architecture

_KIMG = re.compile(r"network-snapshot-(\d+)\.pkl$")
TEXT_TOWER = "mapping.clip.model"


@dataclass
class OfficialSnapshot:
    """The records of one snapshot: ``G``, ``G_ema`` and (when present) ``D``, plus plain training metadata."""

    path: Path
    G: Record
    G_ema: Record
    D: Record | None
    training_set_kwargs: dict[str, Any]
    kimg: int  # from the file name (the original names snapshots by thousands of images seen), else 0


def read_snapshot(path: str | Path) -> OfficialSnapshot:
    """Read a snapshot safely; it must hold module records ``G_ema`` (and ``G``; ``D`` optional)."""
    path = Path(path)
    data = safe_load(path)
    if not isinstance(data, dict) or not is_module_record(data.get("G_ema")):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"'{path}' is not an original StyleGAN-T snapshot (expected a dict with G, D, G_ema; got {keys})")
    G_ema = data["G_ema"]
    G = data.get("G") if is_module_record(data.get("G")) else G_ema
    D = data.get("D") if is_module_record(data.get("D")) else None
    kwargs = data.get("training_set_kwargs")
    match = _KIMG.search(path.name)
    return OfficialSnapshot(path, G, G_ema, D, dict(kwargs) if isinstance(kwargs, dict) else {}, int(match.group(1)) if match else 0)


def _attr(record: Record, name: str, default: Any = None) -> Any:
    value = record.attrs.get(name, default)
    return value if isinstance(value, (bool, int, float, str, type(None))) else default


def _block_channels(synthesis: Record) -> dict[int, int]:
    channels = {}
    for name, block in children(synthesis):
        if re.fullmatch(r"b\d+", name):
            width = _attr(block, "out_channels")
            if not isinstance(width, int) or width <= 0:
                raise CheckpointError(f"synthesis block {name} of the snapshot has no channel count")
            channels[int(name[1:])] = width
    if not channels:
        raise CheckpointError("the snapshot's generator has no synthesis blocks b8, b16, ...")
    return channels


def infer_channels(channels: dict[int, int]) -> tuple[int, int]:
    """``(channel_base, channel_max)`` reproducing ``min(channel_base // r, channel_max)`` for every block."""
    channel_max = max(channels.values())
    below = [c * r for r, c in channels.items() if c < channel_max]
    channel_base = max(below) if below else channel_max * max(channels)
    if any(min(channel_base // r, channel_max) != c for r, c in channels.items()):
        raise CheckpointError(f"block widths {channels} follow no channel_base / channel_max rule")
    return channel_base, channel_max


def infer_generator_settings(G: Record) -> dict[str, Any]:
    """GeneratorConfig fields of an original generator record (architecture from shapes and attributes)."""
    synthesis, mlp = submodule(G, "synthesis"), submodule(G, "mapping.mlp")
    channels = _block_channels(synthesis)
    channel_base, channel_max = infer_channels(channels)
    first = submodule(synthesis, f"b{min(channels)}")
    convs = dict(children(first)).get("convs1")
    if convs is None:
        raise CheckpointError("the snapshot's first synthesis block has no convs1 (residual layers)")
    num_convs = len(list(children(convs)))
    layer = dict(children(convs))["0"]
    residual = [m for _, m in children(convs) if _attr(m, "residual")]
    norm = dict(children(residual[0])).get("norm") if residual else None
    fc0 = dict(children(mlp)).get("fc0")
    settings = {
        "img_resolution": int(_attr(G, "img_resolution", max(channels))),
        "channel_base": channel_base,
        "channel_max": channel_max,
        "num_res_blocks": num_convs // 2,
        "z_dim": int(_attr(G, "z_dim", 64)),
        "img_channels": int(_attr(G, "img_channels", 3)),
        "mapping_layers": len(list(children(mlp))),
        "x_avg_beta": float(_attr(submodule(G, "mapping"), "x_avg_beta", 0.995)),
        "conv_clamp": _attr(layer, "conv_clamp", 256.0),
    }
    if fc0 is not None and isinstance(_attr(fc0, "bias_gain"), float):
        settings["mapping_lr_multiplier"] = _attr(fc0, "bias_gain")  # the original's bias gain is its lr multiplier
    if norm is not None and _attr(norm, "num_groups"):
        settings["gn_groups"] = int(_attr(norm, "num_groups"))
    if settings["conv_clamp"] is not None:
        settings["conv_clamp"] = float(settings["conv_clamp"])
    return settings


def text_architecture(G: Record, text_arch: str | None = None) -> str:
    """The open_clip spec of the text tower: ``text_arch`` when given, else the known architecture it matches."""
    if text_arch:
        return text_arch
    config = infer_text_config(submodule(G, TEXT_TOWER))
    name = match_open_clip_architecture(config)
    if name is None:
        raise CheckpointError(
            f"the snapshot's text encoder is no known open_clip architecture ({config}); name it with "
            "--text-arch (an open_clip model name, or local-dir:FOLDER holding its open_clip_config.json and weights)"
        )
    return name


def generator_from_snapshot(snapshot: OfficialSnapshot, which: str = "G_ema", *, text_arch: str | None = None) -> Generator:
    """Our ``Generator`` with the snapshot's ``G_ema`` (or ``G``) weights, text tower included, in eval mode."""
    record = getattr(snapshot, which)
    settings = infer_generator_settings(record)
    spec = text_architecture(record, text_arch)
    try:
        generator = generator_from_official(state_dict(record), text_encoder=spec, **settings)
    except (StateMismatchError, ValueError, RuntimeError) as err:  # open_clip: RuntimeError for unknown names
        raise CheckpointError(f"'{snapshot.path}' {which} (text architecture {spec}): {err}") from err
    return generator.eval()


def discriminator_settings(D: Record) -> dict[str, Any]:
    """``c_dim``, DiscriminatorConfig fields and the augmentation of an original discriminator record."""
    dino = submodule(D, "dino")
    vit = submodule(dino, "model.model")
    blocks = len(list(children(submodule(vit, "blocks"))))
    embed = int(_attr(dino, "embed_dim", 0))
    patch = state_dict(submodule(vit, "patch_embed"))["proj.weight"]
    if (embed, blocks, patch.shape[-1], _attr(dino, "img_resolution")) != (384, 12, 16, 224):
        raise CheckpointError(
            f"the snapshot's feature network (width {embed}, {blocks} blocks, patch {patch.shape[-1]}) is not the "
            "original's DINO ViT-S/16; only that one converts"
        )
    head = submodule(D, "heads.0")
    kernel = state_dict(submodule(head, "main.1.fn.0"))["weight_orig"].shape[-1]
    norm = submodule(head, "main.0.1")
    config = DiscriminatorConfig(
        feature_network=FeatureNetworkConfig(weights="random"),  # DINO ViT-S/16 (taps 2, 5, 8, 11 + patches); weights: the snapshot's
        cmap_dim=int(_attr(head, "cmap_dim", 64)),
        head_kernel_size=int(kernel),
        group_size=int(_attr(norm, "virtual_bs", 8)),
        diffaug=DEFAULT_DIFFAUG if _attr(D, "diffaug", True) else "",
        p_crop=float(_attr(D, "p_crop", 0.5)),
    )
    return {"c_dim": int(_attr(D, "c_dim", 0)), "config": config}


def discriminator_from_snapshot(snapshot: OfficialSnapshot) -> ProjectedDiscriminator:
    """Our ``ProjectedDiscriminator``: the snapshot's heads and its DINO weights as the feature network."""
    if snapshot.D is None:
        raise CheckpointError(f"'{snapshot.path}' holds no discriminator D")
    settings = discriminator_settings(snapshot.D)
    config: DiscriminatorConfig = settings["config"]
    try:
        return discriminator_from_official(
            state_dict(snapshot.D), c_dim=settings["c_dim"], diffaug=config.diffaug, p_crop=config.p_crop, config=config,
        )
    except (StateMismatchError, ValueError) as err:
        raise CheckpointError(f"'{snapshot.path}' D: {err}") from err


__all__ = [
    "OfficialSnapshot", "discriminator_from_snapshot", "discriminator_settings", "generator_from_snapshot",
    "infer_channels", "infer_generator_settings", "read_snapshot", "text_architecture",
]
