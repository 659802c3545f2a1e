"""CLIP score with an open_clip model loaded offline (the CLIP score of arXiv 2301.09515, Sec. 4).

torchmetrics' ``CLIPScore`` needs ``transformers`` and Hugging Face names, so this is a small
``torchmetrics.Metric`` of our own: two sum states (cosines, count) that all-reduce under DDP.

Convention: :meth:`OpenCLIPScore.compute` returns ``scale`` x the mean cosine similarity between
image and caption embeddings. ``scale=1`` (default) is the mean raw cosine reported by the original
StyleGAN-T (with ViT-g-14 ``laion2b_s12b_b42k``, a different CLIP than the conditioning one);
``scale=100`` is torchmetrics' convention (it also clamps negatives to 0, which we do not).
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric

from ..images import pretrained_input
from ..models.open_clip_loader import image_settings, load_open_clip
from .fid import keep_out_of_checkpoint, metric_uint8


class OpenCLIPScore(Metric):
    """``scale * mean_i cos(clip_img(image_i), clip_txt(caption_i))`` over all updates (and ranks).

    ``model`` is an open_clip name or ``local-dir:`` folder resolved by
    :func:`stylegan_t.models.open_clip_loader.load_open_clip` (local files only), or a CLIP instance
    with ``encode_image`` / ``encode_text`` (then pass ``tokenizer`` unless it is an open_clip CLIP
    using the standard BPE tokenizer). Images: uint8 or floats in ``[-1, 1]`` (quantized to uint8 first,
    as saved images are), resized bicubically to the model's input size, then CLIP-normalized.

    Example::

        score = OpenCLIPScore("ViT-g-14", "/data/weights/ViT-g-14-laion2b_s12b_b42k.bin")
        score.update(images, captions)
        raw_cosine = float(score.compute())   # x100 for torchmetrics' convention
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    cosine_sum: torch.Tensor
    count: torch.Tensor

    def __init__(
        self,
        model: str | nn.Module = "ViT-g-14",
        pretrained: str | None = None,
        *,
        tokenizer: Callable[[list[str]], torch.Tensor] | None = None,
        scale: float = 1.0,
        antialias: bool = False,
        weights_dir: str | os.PathLike | None = None,
        keep_weights_in_state_dict: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(model, str):
            model, loaded_tokenizer = load_open_clip(model, pretrained, weights_dir=weights_dir)
            tokenizer = tokenizer or loaded_tokenizer
        elif tokenizer is None:
            from open_clip.tokenizer import SimpleTokenizer

            tokenizer = SimpleTokenizer(context_length=int(getattr(model, "context_length", 77)))
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.scale = float(scale)
        self.antialias = antialias
        self.input_size, mean, std = image_settings(getattr(model, "visual", None))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1), persistent=False)
        self.add_state("cosine_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        if not keep_weights_in_state_dict:
            keep_out_of_checkpoint(self, "model")

    def train(self, mode: bool = True) -> "OpenCLIPScore":
        """The CLIP model stays in eval mode (no dropout) whatever the surrounding module does."""
        super().train(mode)
        self.model.eval()
        return self

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 / [-1, 1] images -> uint8 (as saved) -> [0, 1] -> bicubic resize to the CLIP input size (CLIP's own
        preprocessing resizes bicubically) -> CLIP normalization."""
        x = metric_uint8(images).to(self.mean.device)
        return pretrained_input(x, size=self.input_size, mean=self.mean, std=self.std, resize="bicubic", antialias=self.antialias)

    @torch.no_grad()
    def cosines(self, images: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """Per-pair cosine similarity, float32 ``[N]``."""
        if len(images) != len(captions):
            raise ValueError(f"got {len(images)} images but {len(captions)} captions")
        dtype = next(self.model.parameters()).dtype
        image_features = self.model.encode_image(self.preprocess(images).to(dtype))
        tokens = self.tokenizer(list(captions)).to(self.mean.device)
        text_features = self.model.encode_text(tokens)
        image_features = F.normalize(image_features.float(), dim=-1)
        text_features = F.normalize(text_features.float(), dim=-1)
        return (image_features * text_features).sum(dim=-1)

    def update(self, images: torch.Tensor, captions: Sequence[str]) -> None:
        """Add a batch of images with one caption each."""
        cos = self.cosines(images, captions)
        self.cosine_sum += cos.double().sum()
        self.count += cos.numel()

    def compute(self) -> torch.Tensor:
        """``scale`` x mean cosine (``scale=1``: raw cosine, as the original StyleGAN-T reports)."""
        if int(self.count) == 0:
            raise RuntimeError("OpenCLIPScore.compute() called before any update()")
        return (self.scale * self.cosine_sum / self.count).float()
