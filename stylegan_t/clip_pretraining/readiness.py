"""Before a generator trains: can this CLIP carry the user's attribute words? The readiness report.

StyleGAN-T's discriminator reads images through a frozen pretrained network and its conditioning comes from a
frozen text encoder (arXiv 2301.09515, Sec. 3.2-3.3); with ``pretrain-clip`` both are the small CLIP. What
that CLIP does not separate, the discriminator cannot teach. Per attribute (``shape=circle,square,triangle``),
on the held-out split of the shards:

- **image features**: the nearest-centroid reader of :mod:`.word_check` on held-out real images (centroids
  from one half, scored on the other), against chance;
- **text features**: each held-out caption that names one value, with that word swapped for each other value
  (the same wording): the mean cosine of the two conditionings, and the share at or above the cosine where the
  matching-aware term takes two captions for paraphrases (:data:`stylegan_t.losses.PARAPHRASE_COSINE`) and
  never shows the discriminator the pair as a negative.

A warning names what is not separated and what to do (docs/own-data.md).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..losses.adversarial import PARAPHRASE_COSINE
from ..models.open_clip_loader import image_settings
from .word_check import fit_word_probe, held_out_split, named_values

#: the report's file in the CLIP folder, read again by ``fit``
READINESS_FILE = "readiness.json"
#: image features must read an attribute at least this far from chance to 100% (0.5: half way)
MIN_IMAGE_MARGIN = 0.5
#: more than this share of one-word swaps taken for paraphrases is a warning
MAX_PARAPHRASE_SHARE = 0.25


@dataclass
class AttributeReadiness:
    """What the CLIP's image and text features make of one attribute's values."""

    attribute: str
    values: tuple[str, ...]
    image_accuracy: float
    chance: float
    caption_cosine: float
    paraphrase_share: float
    captions: int

    def warnings(self) -> list[str]:
        """Plain sentences for what is not separated (empty when both towers separate the values)."""
        out = []
        needed = self.chance + MIN_IMAGE_MARGIN * (1 - self.chance)
        if self.image_accuracy < needed:
            out.append(f"{self.attribute}: the image features read it {self.image_accuracy:.0%} right (chance "
                       f"{self.chance:.0%}, wanted {needed:.0%}): the discriminator will hardly teach it")
        if self.paraphrase_share > MAX_PARAPHRASE_SHARE:
            out.append(f"{self.attribute}: captions differing only in it are {self.caption_cosine:.2f} alike; "
                       f"{self.paraphrase_share:.0%} count as paraphrases, never as mismatches")
        return out


def swap_word(caption: str, old: str, new: str) -> str:
    """``caption`` with the whole word(s) ``old`` replaced by ``new`` (case-insensitive)."""
    return re.sub(rf"(?<![a-z0-9]){re.escape(old)}(?![a-z0-9])", new, caption, flags=re.IGNORECASE)


@torch.no_grad()
def text_separation(model: torch.nn.Module, tokenizer, captions: list[str], values: tuple[str, ...]) -> tuple[float, float, int]:
    """(mean cosine, share >= PARAPHRASE_COSINE, captions used) over every caption naming one value, swapped for each
    other value."""
    pairs = [(c, swap_word(c, named[0], other)) for c in captions
             if len(named := named_values(c, values)) == 1 for other in values if other != named[0]]
    if not pairs:
        return float("nan"), float("nan"), 0
    cos = []
    for start in range(0, len(pairs), 256):
        chunk = pairs[start : start + 256]
        a = model.encode_text(tokenizer([p[0] for p in chunk]), normalize=True)
        b = model.encode_text(tokenizer([p[1] for p in chunk]), normalize=True)
        cos.append((a * b).sum(-1))
    cos = torch.cat(cos)
    return float(cos.mean()), float((cos >= PARAPHRASE_COSINE).float().mean()), len({p[0] for p in pairs})


def readiness(clip_dir: str | Path, shards: str | list[str], attributes: dict[str, tuple[str, ...]],
              *, max_samples: int = 4000) -> list[AttributeReadiness]:
    """The report for ``attributes`` of the CLIP ``pretrain-clip`` wrote to ``clip_dir`` from ``shards``."""
    from ..models.open_clip_loader import load_open_clip

    clip_dir = Path(str(clip_dir).removeprefix("local-dir:"))
    model, tokenizer = load_open_clip(f"local-dir:{clip_dir}")
    model.eval()
    held = held_out_split(clip_dir, shards, image_settings(model.visual)[0][0], max_samples=max_samples)
    probe = fit_word_probe(clip_dir, shards, attributes, held=held, model=model)
    report = []
    for attribute, values in attributes.items():
        cosine, share, used = text_separation(model, tokenizer, held.captions, values)
        report.append(AttributeReadiness(attribute, tuple(values), probe.real_accuracy[attribute], 1 / len(values),
                                         cosine, share, used))
    return report


def format_readiness(report: list[AttributeReadiness]) -> str:
    """A few lines: one per attribute, then the warnings and what to do."""
    lines = ["Readiness (held-out real images and captions):",
             f"  {'attribute':12s} {'image features':>15s} {'chance':>7s} {'one-word swap cos':>18s} {'as paraphrase':>14s}"]
    for r in report:
        lines.append(f"  {r.attribute:12s} {r.image_accuracy:15.0%} {r.chance:7.0%} {r.caption_cosine:18.2f} "
                     f"{r.paraphrase_share:14.0%}")
    warnings = [w for r in report for w in r.warnings()]
    if warnings:
        lines += [f"WARNING: {w}" for w in warnings]
        lines.append("  Before training a generator: train the CLIP longer (--steps, or more images), or pretrain a second "
                     "CLIP with the ResNet image tower (--model stylegan-t-tiny-conv) and give D both towers (recipe "
                     "own-data-cpu-two-towers); docs/own-data.md, 'When the readiness report warns'.")
    else:
        lines.append("  Every attribute is separated by both the image and the text features.")
    return "\n".join(lines)


def save_readiness(clip_dir: str | Path, report: list[AttributeReadiness]) -> Path:
    """``clip_dir/readiness.json``: the report, for ``fit`` to repeat."""
    path = Path(str(clip_dir).removeprefix("local-dir:")) / READINESS_FILE
    path.write_text(json.dumps([asdict(r) for r in report], indent=1))
    return path


def load_readiness(clip_dir: str | Path) -> list[AttributeReadiness] | None:
    """The report saved in ``clip_dir``, or None (no report, or one this version cannot read)."""
    path = Path(str(clip_dir).removeprefix("local-dir:")) / READINESS_FILE
    try:
        rows = json.loads(path.read_text())
        return [AttributeReadiness(**{**row, "values": tuple(row["values"])}) for row in rows]
    except (OSError, ValueError, TypeError, KeyError):
        return None
