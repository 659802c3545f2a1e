"""Where does shape get lost? Stage-by-stage probes of the own-data path on the rotated-shapes world.

Each stage is measured on its own, with the independent reader (:mod:`stylegan_t.demo.shape_cnn`) and fresh
renders of :mod:`stylegan_t.demo.rotated_shapes`, never by changing the training code:

1. **CLIP image tower** (the discriminator's frozen feature network, arXiv 2301.09515 Sec. 3.2): a linear
   probe (ridge regression to one-hot labels) for shape and colour on each tap's features, mean-pooled over
   tokens and as all tokens; raw pixels as the reference.
2. **CLIP text tower** (the generator's conditioning, Sec. 3.1): for each caption in a held-out wording, is
   the nearest training-wording caption (cosine of the conditioning) of the same shape / colour? And how
   close are two captions that differ only in shape: the matching-aware term keeps a mismatched pair only
   below a cosine of 0.9 (:func:`stylegan_t.losses.adversarial.mismatched_conditions`).
3. **Discriminator**: on real renders, its logit under the true caption against the same caption with the
   shape (or the colour) swapped.
4. **Generator's gradient**: the image gradient of the generator loss ``-mean(D(G(z, c), c))``; its cosine
   with the reader's direction toward the asked shape (colour), and the part of it that changes when only
   the shape (colour) word of the caption changes.

    python -m stylegan_t.demo.shape_probes --clip runs/shapes/clip [--checkpoint runs/shapes/checkpoints/last.ckpt]
        --detector runs/shapes/detector
    python -m stylegan_t.demo.shape_probes --clip runs/shapes/clip --curve runs/shapes     # probe 3 per epoch checkpoint
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from ..latents import seed_latents
from ..losses.adversarial import g_nonsaturating_loss
from ..losses.blur import blur_images, blur_sigma
from .rotated_shapes import COLORS, HELDOUT_TEMPLATES, SHAPES, TRAIN_TEMPLATES
from .shape_cnn import color_log_prob, load, renders, shape_log_prob

_PROBE_SEED = 30_000


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor,
                 *, ridges: tuple[float, ...] = (1e-1, 1.0, 10.0, 100.0, 1000.0)) -> float:
    """Held-out accuracy of a linear classifier on standardised features: ridge regression to one-hot labels
    (solved in closed form, in the dual when features outnumber samples), the ridge chosen on a fifth of the
    training samples, then refitted on all of them."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = ((train_x - mean) / std).double(), ((test_x - mean) / std).double()
    classes = int(max(train_y.max(), test_y.max())) + 1
    targets = F.one_hot(train_y, classes).double()

    def fit(x: torch.Tensor, y: torch.Tensor, ridge: float):
        x1 = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
        eye = torch.eye(len(x1), dtype=x.dtype)
        alpha = torch.linalg.solve(x1 @ x1.T + ridge * eye, y)  # dual form: w = X^T (X X^T + r I)^-1 Y
        weights = x1.T @ alpha
        return lambda z: torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], 1) @ weights

    cut = len(a) * 4 // 5
    scores = [float((fit(a[:cut], targets[:cut], r)(a[cut:]).argmax(1) == train_y[cut:]).float().mean()) for r in ridges]
    best = ridges[max(range(len(ridges)), key=scores.__getitem__)]
    return float((fit(a, targets, best)(b).argmax(1) == test_y).float().mean())


def image_tower_probe(clip_spec: str, *, taps: tuple[int, ...] = (0, 1), num_train: int = 2048,
                      num_test: int = 1024) -> dict:
    """Probe 1: shape / colour linear-probe accuracy per tap of the frozen image tower (as the discriminator
    taps it: the patch tap, then the blocks, or a ResNet's stages, ``taps``) and of CLIP's final image
    embedding; raw pixels for reference."""
    from ..models.discriminator.feature_networks import open_clip_feature_network
    from ..models.open_clip_loader import load_open_clip

    net = open_clip_feature_network(clip_spec, taps=taps).eval()
    clip, _ = load_open_clip(clip_spec, None)
    clip = clip.eval()
    train, test = renders(num_train, _PROBE_SEED), renders(num_test, _PROBE_SEED + 1)
    names = {str(len(taps)): "patch embedding", **{str(i): f"block {t}" for i, t in enumerate(sorted(taps))}}

    def features(images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"pixels": images.flatten(1)}
        with torch.no_grad():
            for start in range(0, len(images), 256):
                chunk = images[start : start + 256]
                for key, f in net(chunk).items():  # [B, C, N]
                    out.setdefault(f"{names[key]}, mean of tokens", []).append(f.mean(-1))
                    out.setdefault(f"{names[key]}, all tokens", []).append(f.flatten(1))
                x = net.preprocess(chunk)  # the tower's own input: resized and normalised as the discriminator's
                out.setdefault("final image embedding", []).append(clip.encode_image(x, normalize=True))
        return {k: (v if isinstance(v, torch.Tensor) else torch.cat(v)) for k, v in out.items()}

    ftrain, ftest = features(train[0]), features(test[0])
    result = {}
    for key in ftrain:
        result[key] = {"shape": linear_probe(ftrain[key], train[2], ftest[key], test[2]),
                       "color": linear_probe(ftrain[key], train[1], ftest[key], test[1])}
    return {"num_train": num_train, "num_test": num_test, "chance": {"shape": 1 / 3, "color": 1 / 6}, "probes": result}


def _captions(templates: tuple[str, ...], background: str = "white") -> list[tuple[str, str, str]]:
    return [(t.format(c=c, s=s, b=background), c, s) for t in templates for c in COLORS for s in SHAPES]


def text_tower_probe(encode) -> dict:
    """Probe 2: ``encode(list of captions) -> [N, D]`` conditioning; nearest training caption of each held-out
    caption, and cosines of caption pairs that differ in shape only / colour only (same wording)."""
    train, held = _captions(TRAIN_TEMPLATES), _captions(HELDOUT_TEMPLATES)
    with torch.no_grad():
        a = F.normalize(encode([t for t, _, _ in train]).float(), dim=-1)
        b = F.normalize(encode([t for t, _, _ in held]).float(), dim=-1)
    nearest = (b @ a.T).argmax(1)
    same_shape = sum(train[j][2] == held[i][2] for i, j in enumerate(nearest.tolist())) / len(held)
    same_color = sum(train[j][1] == held[i][1] for i, j in enumerate(nearest.tolist())) / len(held)
    cos = a @ a.T
    shape_only, color_only = [], []
    for i, (ti, ci, si) in enumerate(train):
        for j, (tj, cj, sj) in enumerate(train):
            if j <= i or TRAIN_TEMPLATES.index(_template_of(ti, ci, si)) != TRAIN_TEMPLATES.index(_template_of(tj, cj, sj)):
                continue
            if ci == cj and si != sj:
                shape_only.append(float(cos[i, j]))
            elif si == sj and ci != cj:
                color_only.append(float(cos[i, j]))
    shape_only_t, color_only_t = torch.tensor(shape_only), torch.tensor(color_only)
    return {
        "heldout_nearest_same_shape": same_shape, "heldout_nearest_same_color": same_color,
        "cosine_shape_only_mean": float(shape_only_t.mean()), "cosine_color_only_mean": float(color_only_t.mean()),
        "shape_only_pairs_above_0.9": float((shape_only_t >= 0.9).float().mean()),
        "color_only_pairs_above_0.9": float((color_only_t >= 0.9).float().mean()),
    }


def _template_of(text: str, color: str, shape: str) -> str:
    for t in TRAIN_TEMPLATES:
        if t.format(c=color, s=shape, b="white") == text:
            return t
    raise ValueError(text)


def _swapped(index: int, values: tuple[str, ...], rng: random.Random) -> int:
    return rng.choice([i for i in range(len(values)) if i != index])


def discriminator_probe(module, *, num: int = 512, seed: int = 0) -> dict:
    """Probe 3: mean D logit on real renders under the true caption minus under the caption with the shape
    (colour) swapped, and how often the true caption scores higher."""
    rng = random.Random(seed)
    images, colors, shapes = renders(num, _PROBE_SEED + 2)
    D, encode = module.discriminator.eval(), module.generator.mapping.encode_text
    sigma = blur_sigma(module.images_seen, sigma0=module.recipe.loss.blur_sigma, fade_kimg=module.recipe.loss.blur_fade_kimg)
    images = blur_images(images, sigma)
    color_names = tuple(COLORS)
    templates = [rng.choice(TRAIN_TEMPLATES) for _ in range(num)]

    def texts(ci, si):
        return [t.format(c=color_names[c], s=SHAPES[s], b="white") for t, c, s in zip(templates, ci, si)]

    other_shape = [_swapped(int(s), SHAPES, rng) for s in shapes]
    other_color = [_swapped(int(c), color_names, rng) for c in colors]
    logits = {}
    with torch.no_grad():
        for name, caps in {"true": texts(colors.tolist(), shapes.tolist()), "shape swapped": texts(colors.tolist(), other_shape),
                           "colour swapped": texts(other_color, shapes.tolist())}.items():
            out = []
            for start in range(0, num, 64):
                c = encode(caps[start : start + 64])
                out.append(D(images[start : start + 64], c).mean(1))
            logits[name] = torch.cat(out)
    result = {"num": num, "blur_sigma": float(sigma), "mean_logit_true": float(logits["true"].mean())}
    for name in ("shape swapped", "colour swapped"):
        gap = logits["true"] - logits[name]
        result[name] = {"mean_gap": float(gap.mean()), "gap_std_error": float(gap.std() / num**0.5),
                        "true_higher": float((gap > 0).float().mean())}
    return result


def generator_gradient_probe(module, cnn, *, num: int = 144, seed: int = 0) -> dict:
    """Probe 4: the image gradient of G's loss ``-mean(D(G(z, c), c))`` at G's own samples, against the reader's
    gradient of log p(asked shape | image) (and colour): cosine of the descent direction, and of the part of it
    that depends on the shape (colour) word alone, i.e. the difference of the gradients under the true caption
    and under the caption with that word swapped. A random direction has cosine ~ 0 +- 1/sqrt(3*H*W)."""
    rng = random.Random(seed)
    color_names = tuple(COLORS)
    combos = [(c, s) for c in range(len(color_names)) for s in range(len(SHAPES))]
    picks = [combos[i % len(combos)] for i in range(num)]
    templates = [rng.choice(TRAIN_TEMPLATES) for _ in range(num)]
    colors, shapes = torch.tensor([c for c, _ in picks]), torch.tensor([s for _, s in picks])

    def texts(ci, si):
        return [t.format(c=color_names[c], s=SHAPES[s], b="white") for t, c, s in zip(templates, ci, si)]

    G, D, encode = module.generator_ema.module.eval(), module.discriminator.eval(), module.generator.mapping.encode_text
    sigma = blur_sigma(module.images_seen, sigma0=module.recipe.loss.blur_sigma, fade_kimg=module.recipe.loss.blur_fade_kimg)
    true_caps = texts(colors.tolist(), shapes.tolist())
    with torch.no_grad():
        fakes = torch.cat([G(seed_latents(list(range(2_000_000 + s, 2_000_000 + min(s + 48, num))), G.z_dim), true_caps[s : s + 48],
                             noise_mode="const") for s in range(0, num, 48)])

    def grad_of(fn) -> torch.Tensor:
        x = fakes.clone().requires_grad_(True)
        fn(x).backward()
        return x.grad.flatten(1)

    def g_loss(caps):
        def fn(x):
            return sum(g_nonsaturating_loss(D(blur_images(x[i : i + 48], sigma), encode(caps[i : i + 48]))) * len(caps[i : i + 48])
                       for i in range(0, num, 48))
        return fn

    descent = -grad_of(g_loss(true_caps))
    descent_shape_swapped = -grad_of(g_loss(texts(colors.tolist(), [_swapped(s, SHAPES, rng) for s in shapes.tolist()])))
    descent_color_swapped = -grad_of(g_loss(texts([_swapped(c, color_names, rng) for c in colors.tolist()], shapes.tolist())))
    toward_shape = grad_of(lambda x: shape_log_prob(cnn, x, shapes).sum())
    toward_color = grad_of(lambda x: color_log_prob(cnn, x, colors).sum())

    def cos(a, b):
        v = F.cosine_similarity(a, b, dim=1)
        return {"mean": float(v.mean()), "std_error": float(v.std() / len(v) ** 0.5)}

    shape_part, color_part = descent - descent_shape_swapped, descent - descent_color_swapped
    with torch.no_grad():
        read = cnn(fakes)
    return {
        "num": num, "random_direction_cosine_scale": 1 / fakes[0].numel() ** 0.5,
        "reader_on_these_fakes": {"shape": float((read[1].argmax(1) == shapes).float().mean()),
                                  "color": float((read[0].argmax(1) == colors).float().mean())},
        "descent_vs_toward_shape": cos(descent, toward_shape), "descent_vs_toward_color": cos(descent, toward_color),
        "shape_word_part_vs_toward_shape": cos(shape_part, toward_shape),
        "color_word_part_vs_toward_color": cos(color_part, toward_color),
        "shape_word_part_norm_ratio": float((shape_part.norm(dim=1) / descent.norm(dim=1)).mean()),
        "color_word_part_norm_ratio": float((color_part.norm(dim=1) / descent.norm(dim=1)).mean()),
    }


def _curve(run_dir: str, out: str | None) -> int:
    from ..training.checkpoint_io import epoch_checkpoints
    from ..training.module import StyleGANT

    rows = []
    for path in reversed(epoch_checkpoints(Path(run_dir) / "checkpoints")):
        module = StyleGANT.load_from_checkpoint(path, map_location="cpu")
        rows.append({"checkpoint": path.name, "kimg": module.images_seen / 1000, **discriminator_probe(module, num=256)})
        row = rows[-1]
        print(f"{row['kimg']:5.1f} kimg  shape swapped: gap {row['shape swapped']['mean_gap']:.3f} "
              f"({row['shape swapped']['true_higher']:.0%} true higher)  colour swapped: gap "
              f"{row['colour swapped']['mean_gap']:.3f} ({row['colour swapped']['true_higher']:.0%})", flush=True)
    if out:
        Path(out).write_text(json.dumps(rows, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stylegan_t.demo.shape_probes", description=__doc__.splitlines()[0])
    parser.add_argument("--clip", required=True, help="a pretrain-clip output folder")
    parser.add_argument("--checkpoint", help="a training checkpoint of own-data-cpu on the rotated shapes (probes 3-4)")
    parser.add_argument("--detector", help="folder of a trained shape_cnn (probe 4)")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--taps", default="0,1", help="probe 1: the image tower's taps (blocks, or a ResNet's "
                        "stages; default 0,1 as the recipes tap it)")
    parser.add_argument("--skip-image-tower", action="store_true", help="leave out probe 1 (already measured)")
    parser.add_argument("--curve", help="instead: probe 3 (256 renders) at every epoch checkpoint of this run folder")
    args = parser.parse_args(argv)
    if args.curve:
        return _curve(args.curve, args.out)
    spec = f"local-dir:{args.clip}"
    results: dict = {}
    if not args.skip_image_tower:
        results["image_tower"] = image_tower_probe(spec, taps=tuple(int(t) for t in args.taps.split(",")))
        print(json.dumps(results["image_tower"], indent=1))
    from ..models.text_encoder import TextEncoder

    results["text_tower"] = text_tower_probe(TextEncoder(spec).eval())
    print(json.dumps(results["text_tower"], indent=1))
    if args.checkpoint:
        from ..training.module import StyleGANT

        module = StyleGANT.load_from_checkpoint(args.checkpoint, map_location="cpu")
        results["kimg"] = module.images_seen / 1000
        results["text_tower_as_conditioned"] = text_tower_probe(module.generator.mapping.encode_text)
        results["discriminator"] = discriminator_probe(module)
        print(json.dumps(results["discriminator"], indent=1))
        if args.detector:
            results["generator_gradient"] = generator_gradient_probe(module, load(args.detector))
            print(json.dumps(results["generator_gradient"], indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
