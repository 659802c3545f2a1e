"""Held-out retrieval accuracy of a CLIP: image->text and text->image top-1 / top-5, next to chance.

Templated captions repeat, so each direction is scored on what is distinguishable: image->text ranks the
*distinct* caption texts of the held-out samples (identical texts embed identically) and is right when the
image's own caption is among the top k; text->image ranks all held-out images and is right when one whose
caption is the query's text is among the top k. Chance is what a random ranking scores under that rule.
"""
from __future__ import annotations

import math
from collections import Counter

import torch
import torch.nn.functional as F

from ..images import pretrained_input

KS = (1, 5)


@torch.no_grad()
def embed(model: torch.nn.Module, tokenizer, images: torch.Tensor, captions: list[str], *, mean, std, batch_size: int = 256):
    """L2-normalised image and text features of held-out samples (``images`` in [-1, 1], decoded at the CLIP's
    input size: normalised with ``mean`` / ``std``, not resized)."""
    image_f, text_f = [], []
    for start in range(0, len(captions), batch_size):
        batch = images[start : start + batch_size]
        x = pretrained_input(batch, size=batch.shape[-2:], mean=mean, std=std)
        image_f.append(F.normalize(model.encode_image(x), dim=-1))
        text_f.append(F.normalize(model.encode_text(tokenizer(captions[start : start + batch_size])), dim=-1))
    return torch.cat(image_f), torch.cat(text_f)


def _chance_top_k(n: int, same: int, k: int) -> float:
    """P(at least one of k random picks out of n is among the ``same`` correct ones)."""
    k = min(k, n)
    return 1.0 - math.comb(n - same, k) / math.comb(n, k)


def retrieval_scores(image_features: torch.Tensor, text_features: torch.Tensor, captions: list[str]) -> dict[str, float]:
    """``{"image_to_text_top1", ..., "text_to_image_top5", "chance_image_to_text_top1", ..., "samples", "captions"}``."""
    n = len(captions)
    distinct = list(dict.fromkeys(captions))
    caption_id = torch.tensor([distinct.index(c) for c in captions])
    first = torch.tensor([captions.index(c) for c in distinct])  # one text feature per distinct caption
    scores: dict[str, float] = {"samples": n, "captions": len(distinct)}
    ranked = (image_features @ text_features[first].t()).argsort(dim=1, descending=True)  # [image, distinct caption]
    for k in KS:
        scores[f"image_to_text_top{k}"] = (ranked[:, :k] == caption_id[:, None]).any(dim=1).float().mean().item()
        scores[f"chance_image_to_text_top{k}"] = min(k, len(distinct)) / len(distinct)
    same = caption_id[:, None] == caption_id[None, :]  # [query text, image]: correct answers
    ranked = (text_features @ image_features.t()).argsort(dim=1, descending=True)
    counts = Counter(captions)
    for k in KS:
        scores[f"text_to_image_top{k}"] = same.gather(1, ranked[:, : min(k, n)]).any(dim=1).float().mean().item()
        scores[f"chance_text_to_image_top{k}"] = sum(_chance_top_k(n, counts[c], k) for c in captions) / max(n, 1)
    return scores


def format_scores(scores: dict[str, float]) -> str:
    """The scores as a small console table with chance levels."""
    lines = [f"Held-out retrieval: {int(scores['samples'])} samples, {int(scores['captions'])} distinct captions"]
    for name, label in (("image_to_text", "image->text"), ("text_to_image", "text->image")):
        values = "  ".join(f"top-{k} {scores[f'{name}_top{k}']:6.1%} (chance {scores[f'chance_{name}_top{k}']:5.1%})" for k in KS)
        lines.append(f"  {label}  {values}")
    return "\n".join(lines)
