"""Preflight of what the pretrained weight files hold: each file the recipe names is opened cheaply (the safetensors
header, a memory-mapped torch archive) and its key names and shapes are compared with the architecture the recipe
asks for, built on the meta device (no memory, no initialisation), before any model is built or anything is
written to ``run.dir``.

Checked: the text encoder and guidance CLIP (paper Sec. 3.3), the discriminator's feature network (Sec. 3.2: DINO
ViT-S/16), the metrics' Inception and CLIP (Sec. 4) and ``model.init_from`` (a training checkpoint whose shared
tensors must have this model's shapes). A mismatch is one line naming the recipe key, the file and the first keys
that differ. :func:`recipe_weight_checks` lists the checks; :func:`check_weight_contents` runs them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import CheckpointError, MissingWeightsError, UserError, WeightsFileError
from .recipe import Recipe

if TYPE_CHECKING:
    from ..models.discriminator import FeatureNetworkConfig


def _open_clip_check(model: str, pretrained: str | None) -> None:
    from ..models.open_clip_loader import check_weights_file, resolve_pretrained

    weights = resolve_pretrained(model, pretrained)
    if weights is not None:
        check_weights_file(model, weights)


def _feature_network_check(fn: FeatureNetworkConfig, key: str) -> None:
    from ..models.discriminator.feature_networks import (
        DINO_HOW,
        ConvFeatureNetwork,
        load_weights_file,
        resolve_feature_weights,
        vit_architecture,
        vit_backbone_state,
    )
    from ..utils.weight_files import check_fits

    path = resolve_feature_weights(fn.weights, key=f"{key}.weights")
    if path is None:
        return
    what = f"feature network '{fn.model if fn.kind == 'vit' else fn.kind}' weights"
    found = load_weights_file(path, what=what, how=DINO_HOW, shapes_only=True)
    if fn.kind == "vit":
        found, expected = vit_backbone_state(found), vit_architecture(fn.model, fn.timm_kwargs, device="meta").state_dict()
    else:
        expected = ConvFeatureNetwork(widths=fn.conv_widths, input_size=fn.input_size, seed=fn.seed).state_dict()
    check_fits(found, expected, source=f"'{path}'", what=what)


def inception_shapes() -> dict[str, torch.Tensor]:
    """The FID Inception's state-dict keys and shapes: torch-fidelity's blocks in the published graph's order,
    built on the meta device (its own constructor reads the weights file)."""
    from torch import nn
    from torch_fidelity.feature_extractor_inceptionv3 import (
        BasicConv2d,
        InceptionA,
        InceptionB,
        InceptionC,
        InceptionD,
        InceptionE_1,
        InceptionE_2,
    )

    with torch.device("meta"):
        net = nn.Module()
        layers = {
            "Conv2d_1a_3x3": BasicConv2d(3, 32, kernel_size=3, stride=2), "Conv2d_2a_3x3": BasicConv2d(32, 32, kernel_size=3),
            "Conv2d_2b_3x3": BasicConv2d(32, 64, kernel_size=3, padding=1), "Conv2d_3b_1x1": BasicConv2d(64, 80, kernel_size=1),
            "Conv2d_4a_3x3": BasicConv2d(80, 192, kernel_size=3), "Mixed_5b": InceptionA(192, pool_features=32),
            "Mixed_5c": InceptionA(256, pool_features=64), "Mixed_5d": InceptionA(288, pool_features=64),
            "Mixed_6a": InceptionB(288), "Mixed_6b": InceptionC(768, channels_7x7=128), "Mixed_6c": InceptionC(768, channels_7x7=160),
            "Mixed_6d": InceptionC(768, channels_7x7=160), "Mixed_6e": InceptionC(768, channels_7x7=192),
            "Mixed_7a": InceptionD(768), "Mixed_7b": InceptionE_1(1280), "Mixed_7c": InceptionE_2(2048), "fc": nn.Linear(2048, 1008),
        }
        for name, layer in layers.items():
            net.add_module(name, layer)
    return dict(net.state_dict())


def _inception_check(path: str | None) -> None:
    from ..metrics.fid import INCEPTION_WEIGHTS_FILE
    from ..utils.weight_files import SAFETENSORS, check_fits, read_weight_shapes, weights_format
    from .preflight import _inception_file

    file = _inception_file(path)
    what = f"FID Inception ({INCEPTION_WEIGHTS_FILE})"
    found = read_weight_shapes(file, what=what)
    if weights_format(file) == SAFETENSORS:
        raise WeightsFileError(f"{what}: '{file}' must be the PyTorch file (.pth) that torch-fidelity reads, not safetensors")
    try:
        expected = inception_shapes()
    except ImportError:
        return  # without torch-fidelity the metric itself says what to install
    check_fits(found, expected, source=f"'{file}'", what=what)


def expected_module_shapes(recipe: Recipe) -> dict[str, torch.Tensor]:
    """The trained tensors of the ``StyleGANT`` a recipe builds (G, its EMA, D's heads; text tower included), as meta
    tensors. The discriminator is left out when its feature network is an open_clip tower or there are two (they need
    their weights)."""
    from ..models import Generator, TextEncoderConfig
    from ..models.discriminator import ProjectedDiscriminator
    from ..models.discriminator.feature_networks import ConvFeatureNetwork, ViTFeatureNetwork
    from ..models.open_clip_loader import build_architecture

    config = recipe.model.generator
    tower: dict[str, torch.Tensor] = {}
    c_dim = config.text_encoder.text_dim
    if config.text_encoder.model:
        clip = build_architecture(config.text_encoder.model, device="meta")
        c_dim = int(clip.text_projection.shape[1])
        tower = {f"mapping.text_encoder.model.{k}": v for k, v in clip.state_dict().items() if not k.startswith("visual.")}
    bare = dataclasses.replace(config, text_encoder=TextEncoderConfig("", text_dim=c_dim))
    fn = recipe.model.discriminator.feature_network
    stacked = recipe.model.discriminator.extra_feature_network is not None  # built with its weights, like open_clip
    with torch.device("meta"):
        g_state = {**Generator(bare).state_dict(), **tower}
        feature = None
        if fn.kind == "vit" and not stacked:
            feature = ViTFeatureNetwork(fn.model, None, taps=fn.taps, patch_tap=fn.patch_tap, timm_kwargs=fn.timm_kwargs)
        elif fn.kind == "conv" and not stacked:
            feature = ConvFeatureNetwork(widths=fn.conv_widths, input_size=fn.input_size, seed=fn.seed)
        d_state = {}
        if feature is not None:
            d_state = ProjectedDiscriminator(c_dim, config=recipe.model.discriminator, feature_network=feature).state_dict()
    out = {f"generator.{k}": v for k, v in g_state.items()}
    out.update({f"generator_ema.module.{k}": v for k, v in g_state.items()})
    out.update({f"discriminator.{k}": v for k, v in d_state.items() if not k.startswith("feature_network.")})
    return out


def check_init_from(recipe: Recipe, path: str | Path, *, stock_module: bool = True) -> None:
    """``model.init_from`` is a stylegan_t training checkpoint (read weights-only, memory-mapped) whose tensors shared
    with this recipe's model have its shapes; raises one line naming the file and the first keys that differ.
    For a module other than the stock one only the generator is compared (its discriminator is its own)."""
    from ..persistence import CheckpointLoadError, CheckpointNotFoundError, read_training_checkpoint
    from ..persistence.formats import STATE_DICT

    try:
        ckpt = read_training_checkpoint(path, mmap=True)
    except CheckpointNotFoundError:
        raise CheckpointNotFoundError(f"checkpoint not found at '{path}' (the previous stage's last.ckpt)") from None
    except CheckpointLoadError as err:
        raise CheckpointError(f"'{path}' is not a readable stylegan_t training checkpoint: {err}") from None
    state = ckpt.get(STATE_DICT, {})
    expected = expected_module_shapes(recipe)
    if not stock_module:
        expected = {k: v for k, v in expected.items() if not k.startswith("discriminator.")}
    shared = [k for k in state if k in expected]
    if not shared:
        raise CheckpointError(f"'{path}' shares no weights with this model (e.g. {list(state)[:2]})")
    bad = [f"{k}: file {list(state[k].shape)} vs model {list(expected[k].shape)}"
           for k in shared if tuple(state[k].shape) != tuple(expected[k].shape)]
    if bad:
        raise CheckpointError(f"'{path}' does not fit this model: {len(bad)} of {len(shared)} shared tensors differ in shape: "
                              + "; ".join(bad[:3]) + (f", ... ({len(bad) - 3} more)" if len(bad) > 3 else ""))


def recipe_weight_checks(recipe: Recipe, *, stock_module: bool = True) -> Iterator[tuple[str, Callable[[], None]]]:
    """``(recipe key, check)`` for every weights file the recipe names (files that share one check run once);
    resolving a file raises :class:`MissingWeightsError`, a check :class:`WeightsFileError` / ``CheckpointError``."""
    from .preflight import open_clip_networks

    seen: set[tuple[str, str | None]] = set()
    for _, key, model, pretrained in open_clip_networks(recipe):
        if (model, pretrained) not in seen:
            seen.add((model, pretrained))
            yield key, lambda model=model, pretrained=pretrained: _open_clip_check(model, pretrained)
    for key, fn in recipe.model.discriminator.feature_networks().items():
        if fn.kind in ("vit", "conv"):
            yield f"{key}.weights", lambda fn=fn, key=key: _feature_network_check(fn, key)
    ev = recipe.eval
    if ev.every_kimg is not None and ev.fid:
        yield "eval.inception_weights", lambda: _inception_check(ev.inception_weights)
    if recipe.model.init_from:
        yield "model.init_from", lambda: check_init_from(recipe, recipe.model.init_from, stock_module=stock_module)


def check_weight_contents(recipe: Recipe, *, keys: set[str] | None = None, stock_module: bool = True) -> None:
    """Run every check of :func:`recipe_weight_checks` (``keys``: only the files the module loads, and
    ``model.init_from``); ONE :class:`WeightsFileError` (a ``CheckpointError`` when only ``model.init_from`` fails)
    naming each file that does not hold what the recipe asks for."""
    problems: list[tuple[str, UserError]] = []
    for key, check in recipe_weight_checks(recipe, stock_module=stock_module):
        if keys is not None and key not in keys and key != "model.init_from":
            continue
        try:
            check()
        except (MissingWeightsError, CheckpointError) as err:
            problems.append((key, err))
    if not problems:
        return
    lines = [f"{key}: {' '.join(str(err).split())}" for key, err in problems]
    if len(problems) == 1:
        raise type(problems[0][1])(lines[0])
    raise WeightsFileError(f"{len(lines)} weights files do not hold what the recipe asks for: "
                           + " ".join(f"({i}) {line}" for i, line in enumerate(lines, 1)))
