"""Score an emoji generator with the independent judge (:mod:`stylegan_t.demo.emoji_judge`).

    python -m stylegan_t.demo.emoji_eval MODEL [--judge DIR] [--limit N] [--truncation PSI] [--inception FILE] [--json OUT]

``MODEL`` is anything :func:`stylegan_t.load` reads (``emoji`` for the shipped one). One image per name, the
prompt "a <name>" and seed 10000 + the name's index; for the training names and for the held-out names:

- *group* / *subgroup*: the judge's reading of the image, accuracy balanced over the groups (subgroups)
  present, so People & Body (59% of the catalogue) counts once;
- *retrieval top-1 / top-5*: the rank of the name's own real render among the real renders of the gallery
  (training names for training prompts; all names for held-out prompts) by cosine similarity of judge embeddings;
- *FID*: Fréchet distance of judge embeddings between the generated images and the renders of the same names
  (``FID (judge)``), or with the standard Inception when ``--inception`` names its local file (``FID (Inception)``).

Each next to chance, next to real renders read the same way, and next to the caption-shuffled control: the
same generator, each image drawn from another name's prompt, scored against the name it stands for.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch

from .emoji import GROUPS, Emoji, catalogue, prompt, split
from .emoji_judge import EmojiJudge, balanced_accuracy, read, renders

SEED_BASE = 10_000
JUDGE_DIR = Path(__file__).resolve().parents[1] / "weights" / "emoji-judge"


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b`` (as FID does)."""
    from scipy import linalg

    a, b = a.double().numpy(), b.double().numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real))


def inception_fid(fake: torch.Tensor, real: torch.Tensor, weights: str) -> float:
    from ..metrics.fid import FID

    fid = FID(weights_path=weights)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


def shuffled(n: int, *, seed: int = 1) -> list[int]:
    """A fixed permutation of ``range(n)`` with no fixed point (each image gets another name's prompt)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[(order.index(i) + 1) % n] for i in range(n)] if n > 1 else order


def score_images(judge: EmojiJudge, images: torch.Tensor, targets: list[Emoji], gallery: list[Emoji],
                 gallery_embeddings: torch.Tensor, *, real: torch.Tensor | None = None,
                 inception: str | None = None) -> dict[str, float]:
    """The judge's scores of ``images`` [N, 3, R, R] in [-1, 1], image i standing for ``targets[i]``."""
    reading = read(judge, images)
    groups = torch.tensor([GROUPS.index(e.group) for e in targets])
    subs = torch.tensor([judge.config.subgroups.index(e.subgroup) for e in targets])
    index = {e.name: i for i, e in enumerate(gallery)}
    own = torch.tensor([index[e.name] for e in targets])
    sims = reading["embedding"] @ gallery_embeddings.T
    rank = (sims > sims.gather(1, own[:, None])).sum(1)  # 0 = own render is the nearest
    out = {"group": balanced_accuracy(reading["group"], groups), "subgroup": balanced_accuracy(reading["subgroup"], subs),
           "top1": float((rank < 1).float().mean()), "top5": float((rank < 5).float().mean()),
           "per_group": {GROUPS[int(g)]: float((reading["group"][groups == g] == g).float().mean()) for g in groups.unique()}}
    if real is not None:
        out["fid_judge"] = frechet(reading["embedding"], read(judge, real)["embedding"])
        if inception:
            out["fid_inception"] = inception_fid(images, real, inception)
    return out


def evaluate(pipe, judge: EmojiJudge, *, limit: int | None = None, inception: str | None = None,
             emojis: list[Emoji] | None = None, batch_size: int = 64, truncation_psi: float = 1.0) -> dict:
    """The full report (see the module docstring); ``limit`` scores an evenly spaced subset of each name set."""
    emojis = emojis or catalogue()
    train, heldout = split(emojis)
    gallery_train, gallery_all = train, train + heldout
    resolution = pipe.generator.img_resolution
    embed_train = read(judge, renders(gallery_train))["embedding"]
    embed_all = torch.cat([embed_train, read(judge, renders(heldout))["embedding"]])
    report: dict = {"judge": "stylegan_t.demo.emoji_judge", "resolution": resolution, "truncation_psi": truncation_psi,
                    "fid_features": "Inception" if inception else "judge embeddings"}
    for part, names, gallery, embeddings in (("train", train, gallery_train, embed_train),
                                             ("heldout", heldout, gallery_all, embed_all)):
        if limit and len(names) > limit:
            names = [names[round(i * len(names) / limit)] for i in range(limit)]
        seeds = [SEED_BASE + emojis.index(e) for e in names]
        prompts = [prompt(e) for e in names]
        swap = shuffled(len(names))
        options = dict(pairing="zip", output_type="tensor", batch_size=batch_size, truncation_psi=truncation_psi)
        made = pipe(prompts, seeds, **options)
        control = pipe([prompts[j] for j in swap], seeds, **options)
        real = renders(names, resolution)
        subgroups = {e.subgroup for e in names}
        report[part] = {
            "names": len(names), "gallery": len(gallery),
            "generated": score_images(judge, made, names, gallery, embeddings, real=real, inception=inception),
            "shuffled": score_images(judge, control, names, gallery, embeddings, real=real, inception=inception),
            "real": score_images(judge, real, names, gallery, embeddings),
            "chance": {"group": 1 / len({e.group for e in names}), "subgroup": 1 / len(subgroups),
                       "top1": 1 / len(gallery), "top5": 5 / len(gallery)},
        }
    return report


def format_report(report: dict) -> str:
    fid = "fid_inception" if report["fid_features"] == "Inception" else "fid_judge"
    lines = [f"Judge: {report['judge']} (images read at 32x32; FID on {report['fid_features']}); "
             f"truncation psi {report['truncation_psi']}"]
    for part, title in (("train", "training names"), ("heldout", "held-out names (never trained on)")):
        r = report[part]
        lines += ["", f"{title}: {r['names']} prompts, retrieval among {r['gallery']} renders",
                  f"  {'':<22}{'group':>8}{'subgroup':>10}{'top-1':>8}{'top-5':>8}{'FID':>8}"]
        for row, label in (("generated", "generated"), ("shuffled", "caption-shuffled"), ("real", "real renders"),
                           ("chance", "chance")):
            s = r[row]
            cells = "".join(f"{100 * s[k]:>7.1f}%" if k != "subgroup" else f"{100 * s[k]:>9.1f}%"
                            for k in ("group", "subgroup", "top1", "top5"))
            lines.append(f"  {label:<22}{cells}{s[fid]:>8.3f}" if fid in s else f"  {label:<22}{cells}{'':>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylegan_t.demo.emoji_eval", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a generator stylegan_t.load reads, e.g. emoji (the shipped one) or a .ckpt")
    parser.add_argument("--judge", default=str(JUDGE_DIR), help="judge folder (default: the one shipped with stylegan_t)")
    parser.add_argument("--limit", type=int, default=None, help="score N names of each set (default: all)")
    parser.add_argument("--inception", default=None, metavar="FILE", help="FID with this local Inception weights file")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--truncation", type=float, default=1.0, metavar="PSI", help="truncation psi (default 1: none)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    from ..pipeline import load

    pipe = load(args.model, device=args.device)
    report = evaluate(pipe, EmojiJudge.load(args.judge), limit=args.limit, inception=args.inception,
                      truncation_psi=args.truncation)
    report["model"] = args.model
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
