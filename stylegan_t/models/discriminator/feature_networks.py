"""Frozen feature networks of the projected discriminator (paper Sec. 3.2: a frozen DINO ViT-S/16 feature network).

Contract: ``forward(images in [-1, 1]) -> {tap name: [B, C, N] tokens}`` in logit order, ``channels`` maps
each tap name to ``C``. Subclass :class:`FeatureNetwork` for other backbones (docs/extending.md).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...constants import IMAGENET_MEAN, IMAGENET_STD
from ...errors import MissingWeightsError
from ...images import pretrained_input
from ...utils.local_files import RANDOM, find_in_weights_dir, require_local_file, weights_dir
from .config import FeatureNetworkConfig

#: weight tags of ``FeatureNetworkConfig.weights`` -> file stems looked for in the weights folder
FEATURE_WEIGHT_TAGS = {"dino": ("dino_vits16",)}
_FEATURE_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin")
WEIGHTS_KEY = "model.discriminator.feature_network.weights"
DINO_HOW = (
    "On a machine with internet access save the timm weights once, e.g. "
    "python -c \"import timm, torch; m = timm.create_model('vit_small_patch16_224.dino', pretrained=True); "
    "torch.save(m.state_dict(), 'dino_vits16.pth')\" (or take dino_deitsmall16_pretrain.pth of the DINO release), "
    "then copy it to the weights folder as dino_vits16.pth and set the weights to 'dino', or set them to its path "
    "(docs/weights.md)."
)


def resolve_feature_weights(weights: str | os.PathLike | None, *, key: str = WEIGHTS_KEY) -> Path | None:
    """A feature network's weights spec -> a local file: a path, a tag (``dino`` -> ``<weights folder>/
    dino_vits16.pth``), or ``random`` (None: untrained, asked for explicitly); unset is an error."""
    if weights is None or str(weights) == "":
        raise MissingWeightsError(
            f"{key} is not set: the discriminator needs a pretrained feature network. Set it to 'dino' "
            f"({weights_dir() / 'dino_vits16.pth'}), to a weights file, or to '{RANDOM}' for an untrained one "
            f"(tests only). {DINO_HOW}"
        )
    spec = os.fspath(weights)
    if spec == RANDOM:
        return None
    if spec in FEATURE_WEIGHT_TAGS:
        found, first = find_in_weights_dir(FEATURE_WEIGHT_TAGS[spec], _FEATURE_SUFFIXES)
        if found is None:
            raise MissingWeightsError(
                f"{key}: '{spec}' weights not found: looked for {first} (or .pt/.safetensors/.bin). "
                f"stylegan_t never downloads weights at run time. {DINO_HOW}"
            )
        return found
    return require_local_file(spec, what=f"{key} ('{spec}')", how=DINO_HOW)


_KEY_PREFIXES = ("module.", "backbone.", "model.")


def load_weights_file(path: str | os.PathLike, *, what: str, how: str, shapes_only: bool = False) -> dict[str, torch.Tensor]:
    """A backbone state dict from a weights file of any container (read by content, plain data only), wrappers
    and prefixes removed; ``shapes_only``: meta tensors from a cheap read (header / memory map)."""
    from ...utils.weight_files import read_weight_shapes, read_weights

    path = require_local_file(path, what=what, how=how)
    state = read_weight_shapes(path, what=what, strip=()) if shapes_only else read_weights(path, what=what, strip=())
    return strip_prefixes(state, _KEY_PREFIXES)


def vit_backbone_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ViT file's state without its classifier (``head.*``: never used, the network is built with ``num_classes=0``)."""
    return {k: v for k, v in state.items() if not k.startswith("head.")}


def vit_architecture(model: str, timm_kwargs: Mapping[str, Any] | None = None, *, device: str | None = None) -> nn.Module:
    """The timm ViT of a feature network without classifier, randomly initialised (``device="meta"``: shapes only)."""
    import timm

    with torch.device(device or torch.get_default_device()):  # pretrained=False always: weights only from a local file
        return timm.create_model(model, pretrained=False, num_classes=0, **dict(timm_kwargs or {}))


def strip_prefixes(state: Mapping[str, torch.Tensor], prefixes: Sequence[str]) -> dict[str, torch.Tensor]:
    """Remove any of ``prefixes`` from the keys, repeatedly (``dino.model.model.x`` -> ``x``)."""
    out = {}
    for key, value in state.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix):], True
        out[key] = value
    return out


class FeatureNetwork(nn.Module):
    """Base class: frozen (no trainable parameters) and always in eval mode; gradients still reach the input."""

    #: tap name -> channels, in the order in which the discriminator concatenates the heads' logits
    channels: dict[str, int]
    #: side of the square input the network resizes to (the random crop uses it); None if any size is fine
    input_size: int | None = None

    def freeze(self) -> None:
        """Call at the end of ``__init__``."""
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FeatureNetwork":
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def load_backbone_state_dict(self, state: Mapping[str, torch.Tensor], *, source: str) -> None:
        """Load backbone weights (e.g. an original checkpoint's ``dino.*`` keys); strict, errors list bad keys."""
        raise NotImplementedError(f"{type(self).__name__} cannot load backbone weights from {source}")


class ViTFeatureNetwork(FeatureNetwork):
    """A timm ViT tapped after given blocks and after the position embedding (paper Sec. 3.2: DINO ViT-S/16).

    Input ``Normalize(area_resize((x + 1) / 2, input_size))`` (ImageNet mean/std by default). At each tap the
    class token is added to every patch token and the prefix tokens dropped: ``[B, C, num_patches]``. Taps are
    named ``'0'..`` (blocks in order, then the patch tap), as the original's heads. Blocks are iterated here: no hooks.
    """

    def __init__(
        self,
        model: str = "vit_small_patch16_224.dino",
        weights: str | os.PathLike | None = None,
        *,
        taps: Sequence[int] = (2, 5, 8, 11),
        patch_tap: bool = True,
        timm_kwargs: Mapping[str, Any] | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.model_name = model
        self.vit = vit_architecture(model, timm_kwargs)
        depth = len(self.vit.blocks)
        if not taps and not patch_tap:
            raise ValueError("a ViT feature network needs at least one tap")
        if any(not 0 <= t < depth for t in taps) or len(set(taps)) != len(taps):
            raise ValueError(f"taps {list(taps)} must be distinct blocks of a ViT with {depth} blocks (0-based)")
        self.taps = sorted(int(t) for t in taps)
        self.patch_tap = patch_tap
        self.input_size = int(self.vit.patch_embed.img_size[0])
        width = int(self.vit.embed_dim)
        self.channels = {str(i): width for i in range(len(self.taps) + int(patch_tap))}
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        path = None if weights is None else resolve_feature_weights(weights)
        if path is not None:
            state = load_weights_file(path, what=f"feature network '{model}'", how=DINO_HOW)
            self.load_backbone_state_dict(state, source=f"'{path}'")
        self.freeze()

    def load_backbone_state_dict(self, state: Mapping[str, torch.Tensor], *, source: str) -> None:
        from ...utils.weight_files import load_fitting

        load_fitting(self.vit, vit_backbone_state(state), source=source, what=f"feature network '{self.model_name}' (timm) weights")

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """``[-1, 1]`` images -> area resize to ``input_size`` (the original's DINO input) -> normalized with ``mean`` / ``std``."""
        return pretrained_input(x, size=self.input_size, mean=self.mean, std=self.std, resize="area")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch embedding + prefix tokens + position embedding: the patch-token tap."""
        h = self.vit._pos_embed(self.vit.patch_embed(x))
        return self.vit.norm_pre(self.vit.patch_drop(h))

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        """``[B, T, C]`` -> class token added to every patch token, prefix tokens dropped -> ``[B, C, N]``."""
        patches = h[:, self.vit.num_prefix_tokens :]
        if self.vit.has_class_token:
            patches = patches + h[:, :1]
        return patches.transpose(1, 2)

    def transformer_blocks(self) -> Sequence[nn.Module]:
        return self.vit.blocks

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.embed(self.preprocess(x))
        features: dict[str, torch.Tensor] = {}
        if self.patch_tap:
            features[str(len(self.taps))] = self.readout(h)
        last = self.taps[-1] if self.taps else -1
        for index, block in enumerate(self.transformer_blocks()[: last + 1]):
            h = block(h)
            if index in self.taps:
                features[str(self.taps.index(index))] = self.readout(h)
        return {name: features[name] for name in self.channels}


class OpenCLIPFeatureNetwork(ViTFeatureNetwork):
    """The image tower of an open_clip ViT, tapped like :class:`ViTFeatureNetwork` (the tower's own normalization).

    ``model`` / ``pretrained`` as for :func:`stylegan_t.models.open_clip_loader.load_open_clip` (``clip``: that
    model, already loaded); the demo uses the tiny CLIP it pretrains on its own data, so D judges generated images
    with pretrained features.
    """

    def __init__(self, model: str, pretrained: str | None = None, *, taps: Sequence[int] = (0, 1), patch_tap: bool = True,
                 clip: nn.Module | None = None) -> None:
        FeatureNetwork.__init__(self)
        from ..open_clip_loader import image_settings, load_open_clip

        self.model_name = model
        self.visual = (clip if clip is not None else load_open_clip(model, pretrained)[0]).visual
        if not hasattr(self.visual, "transformer"):
            raise ValueError(f"'{model}' has no ViT image tower: build it with open_clip_feature_network()")
        depth = len(self.visual.transformer.resblocks)
        if any(not 0 <= t < depth for t in taps) or len(set(taps)) != len(taps) or not (taps or patch_tap):
            raise ValueError(f"taps {list(taps)} must be distinct blocks of a ViT with {depth} blocks (0-based)")
        self.taps = sorted(int(t) for t in taps)
        self.patch_tap = patch_tap
        size, mean, std = image_settings(self.visual)
        self.input_size = size[0]
        width = int(self.visual.transformer.width)
        self.channels = {str(i): width for i in range(len(self.taps) + int(patch_tap))}
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.freeze()

    def load_backbone_state_dict(self, state: Mapping[str, torch.Tensor], *, source: str) -> None:
        self.visual.load_state_dict(dict(state), strict=True)

    def transformer_blocks(self) -> Sequence[nn.Module]:
        return self.visual.transformer.resblocks

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual._embeds(x)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        return (h[:, 1:] + h[:, :1]).transpose(1, 2)


class OpenCLIPResNetFeatureNetwork(FeatureNetwork):
    """The image tower of an open_clip CLIP whose tower is a ResNet (open_clip's ``ModifiedResNet``, e.g.
    ``stylegan-t-tiny-conv``), tapped after its stages ``taps`` (0-based: ``layer1`` is 0) and, as the patch tap,
    after its stem; each map flattened into tokens ``[B, C, H*W]``. Convolutions read shape from few images where
    a small ViT does not (docs/own-data.md), so ``pretrain-clip --model stylegan-t-tiny-conv`` gives D such features.
    """

    def __init__(self, model: str, pretrained: str | None = None, *, taps: Sequence[int] = (0, 1), patch_tap: bool = True,
                 clip: nn.Module | None = None) -> None:
        super().__init__()
        from ..open_clip_loader import image_settings, load_open_clip

        self.model_name = model
        self.visual = (clip if clip is not None else load_open_clip(model, pretrained)[0]).visual
        stages = self.stages()
        if any(not 0 <= t < len(stages) for t in taps) or len(set(taps)) != len(taps) or not (taps or patch_tap):
            raise ValueError(f"taps {list(taps)} must be distinct stages of a ResNet with {len(stages)} stages (0-based)")
        self.taps = sorted(int(t) for t in taps)
        self.patch_tap = patch_tap
        size, mean, std = image_settings(self.visual)
        self.input_size = size[0]
        widths = [self._width(stage) for stage in stages]
        self.channels = {str(i): widths[t] for i, t in enumerate(self.taps)}
        if patch_tap:
            self.channels[str(len(self.taps))] = int(self.visual.bn3.num_features)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.freeze()

    def stages(self) -> list[nn.Module]:
        return [self.visual.layer1, self.visual.layer2, self.visual.layer3, self.visual.layer4]

    @staticmethod
    def _width(stage: nn.Module) -> int:
        return int([m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features)

    def load_backbone_state_dict(self, state: Mapping[str, torch.Tensor], *, source: str) -> None:
        self.visual.load_state_dict(dict(state), strict=True)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """``[-1, 1]`` images -> area resize to the tower's input size -> normalized as the CLIP was trained."""
        return pretrained_input(x, size=self.input_size, mean=self.mean, std=self.std, resize="area")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.visual.stem(self.preprocess(x))
        features = {str(len(self.taps)): h.flatten(2)} if self.patch_tap else {}
        for index, stage in enumerate(self.stages()[: self.taps[-1] + 1 if self.taps else 0]):
            h = stage(h)
            if index in self.taps:
                features[str(self.taps.index(index))] = h.flatten(2)
        return {name: features[name] for name in self.channels}


def open_clip_feature_network(model: str, pretrained: str | None = None, *, taps: Sequence[int] = (0, 1),
                              patch_tap: bool = True) -> FeatureNetwork:
    """The image tower of an open_clip CLIP as D's frozen features: a ViT tower tapped after blocks
    (:class:`OpenCLIPFeatureNetwork`), a ResNet tower after stages (:class:`OpenCLIPResNetFeatureNetwork`)."""
    from ..open_clip_loader import load_open_clip

    clip, _ = load_open_clip(model, pretrained)
    kind = OpenCLIPFeatureNetwork if hasattr(clip.visual, "transformer") else OpenCLIPResNetFeatureNetwork
    return kind(model, pretrained, taps=taps, patch_tap=patch_tap, clip=clip)


class ConvFeatureNetwork(FeatureNetwork):
    """A small frozen CNN (seeded random or loaded weights); each stage's map flattened into tokens.

    A CPU-friendly stand-in for the ViT (demo recipes, tests): stage ``i`` halves the resolution.
    """

    def __init__(
        self, *, widths: Sequence[int] = (32, 64, 128), input_size: int = 32, weights: str | os.PathLike | None = None, seed: int = 0
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        stages, in_channels = [], 3
        for width in widths:
            conv_a = nn.Conv2d(in_channels, width, 3, padding=1)
            conv_b = nn.Conv2d(width, width, 3, stride=2, padding=1)
            for conv in (conv_a, conv_b):
                nn.init.kaiming_normal_(conv.weight, nonlinearity="leaky_relu", generator=generator)
                nn.init.zeros_(conv.bias)
            stages.append(nn.Sequential(conv_a, nn.LeakyReLU(0.2), conv_b, nn.LeakyReLU(0.2)))
            in_channels = width
        self.stages = nn.ModuleList(stages)
        self.input_size = input_size
        self.channels = {str(i): int(w) for i, w in enumerate(widths)}
        path = None if weights is None or os.fspath(weights) == RANDOM else require_local_file(
            weights, what="conv feature network", how="Pass the path of a saved state dict."
        )
        if path is not None:
            state = load_weights_file(path, what="conv feature network", how="Pass the path of a saved state dict.")
            self.load_backbone_state_dict(state, source=f"'{weights}'")
        self.freeze()

    def load_backbone_state_dict(self, state: Mapping[str, torch.Tensor], *, source: str) -> None:
        from ...utils.weight_files import load_fitting

        load_fitting(self, state, source=source, what="conv feature network weights")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="area")
        features = {}
        for name, stage in zip(self.channels, self.stages):
            x = stage(x)
            features[name] = x.flatten(2)
        return features


class StackedFeatureNetwork(FeatureNetwork):
    """Two frozen networks read side by side: the first one's taps keep their names, the second's are prefixed with
    ``x``, so D gets heads on both (not in the paper; ``model.discriminator.extra_feature_network``). Each network
    resizes and normalises the images for itself; the random crop uses the first one's input size."""

    def __init__(self, first: FeatureNetwork, second: FeatureNetwork) -> None:
        super().__init__()
        self.first, self.second = first, second
        self.input_size = first.input_size
        self.channels = {**first.channels, **{f"x{name}": ch for name, ch in second.channels.items()}}
        self.freeze()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {**self.first(x), **{f"x{name}": tokens for name, tokens in self.second(x).items()}}


def build_feature_network(config: FeatureNetworkConfig) -> FeatureNetwork:
    """The feature network a config names (``kind``: ``vit``, ``open_clip`` or ``conv``).

    ``config.weights`` must be given (a file, a tag such as ``dino``, or ``random``): never random by omission.
    """
    if config.kind == "vit":
        weights = resolve_feature_weights(config.weights)
        return ViTFeatureNetwork(
            config.model, weights, taps=config.taps, patch_tap=config.patch_tap, timm_kwargs=config.timm_kwargs
        )
    if config.kind == "open_clip":
        return open_clip_feature_network(config.model, config.weights, taps=config.taps, patch_tap=config.patch_tap)
    if config.kind == "conv":
        weights = resolve_feature_weights(config.weights)
        return ConvFeatureNetwork(widths=config.conv_widths, input_size=config.input_size, weights=weights, seed=config.seed)
    raise ValueError(
        f"unknown feature network kind {config.kind!r}: 'vit', 'open_clip' or 'conv' (or override build_feature_network)"
    )
