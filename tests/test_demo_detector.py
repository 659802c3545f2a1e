"""Demo detector (issue 6): exact on clean renders, robust to the noise, blur and colour drift of GAN outputs."""
from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from stylegan_t.data.decode import pil_to_tensor
from stylegan_t.demo import ATTRIBUTES, analyze, detect, random_scene, render, sample
from stylegan_t.demo.detector import NONE


def blur(x: torch.Tensor, sigma: float = 0.8) -> torch.Tensor:
    """Separable Gaussian blur (5 taps) with replicated edges."""
    taps = torch.arange(5) - 2.0
    k = torch.exp(-0.5 * (taps / sigma) ** 2)
    k = k / k.sum()
    y = F.pad(x[None], (2, 2, 2, 2), mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, 5).expand(3, 1, 1, 5), groups=3)
    return F.conv2d(y, k.view(1, 1, 5, 1).expand(3, 1, 5, 1), groups=3)[0]


def rotate_hue(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate colours about the grey axis (a hue shift that keeps brightness)."""
    a = math.radians(degrees)
    k = 1 / math.sqrt(3)
    cross = torch.tensor([[0, -k, k], [k, 0, -k], [-k, k, 0]])
    rot = math.cos(a) * torch.eye(3) + math.sin(a) * cross + (1 - math.cos(a)) * torch.full((3, 3), 1 / 3)
    return torch.einsum("ij,jhw->ihw", rot, (x + 1) / 2) * 2 - 1


def noise(x: torch.Tensor, std: float, gen: torch.Generator) -> torch.Tensor:
    return x + std * torch.randn(x.shape, generator=gen)


def accuracy(images, truths) -> dict[str, float]:
    found = [detect(im) for im in images]
    return {a: sum(f[a] == t[a] for f, t in zip(found, truths)) / len(truths) for a in ATTRIBUTES}


@pytest.fixture(scope="module")
def renders():
    samples = [sample(i, seed=7) for i in range(240)]
    return [pil_to_tensor(s.image) for s in samples], [s.attributes for s in samples], samples


def test_exact_on_clean_renders(renders):
    tensors, truths, samples = renders
    assert accuracy(tensors, truths) == {a: 1.0 for a in ATTRIBUTES}
    assert accuracy([s.image for s in samples[:60]], truths[:60]) == {a: 1.0 for a in ATTRIBUTES}  # PIL input
    hi = [sample(i, seed=8, resolution=64) for i in range(40)]
    assert accuracy([s.image for s in hi], [s.attributes for s in hi]) == {a: 1.0 for a in ATTRIBUTES}
    big = [sample(i, seed=8, layout="centered") for i in range(60)]
    assert accuracy([s.image for s in big], [s.attributes for s in big]) == {a: 1.0 for a in ATTRIBUTES}


DEGRADATIONS = {
    "noise 0.2": lambda x, g: noise(x, 0.2, g),
    "blur": lambda x, g: blur(x),
    "blur + noise": lambda x, g: noise(blur(x, 1.0), 0.1, g),
    "hue +15": lambda x, g: rotate_hue(x, 15),
    "hue -15": lambda x, g: rotate_hue(x, -15),
    "dark, low contrast": lambda x, g: 0.6 * x - 0.2,
    "colour cast": lambda x, g: x + torch.tensor([0.15, -0.1, 0.05]).view(3, 1, 1),
    "everything": lambda x, g: noise(0.85 * rotate_hue(blur(x), 10) + 0.05, 0.15, g),
}


@pytest.mark.parametrize("name", list(DEGRADATIONS))
def test_robust_to_degradations(renders, name):
    tensors, truths, _ = renders
    gen = torch.Generator().manual_seed(0)
    degraded = [DEGRADATIONS[name](x, gen).clamp(-1, 1) for x in tensors[:120]]
    acc = accuracy(degraded, truths[:120])
    assert min(acc.values()) >= 0.95, acc


def test_speckles_and_small_blobs_do_not_matter():
    gen = torch.Generator().manual_seed(1)
    for i in range(30):
        s = sample(i, seed=9)
        x = pil_to_tensor(s.image)
        dots = torch.rand(1, 32, 32, generator=gen) < 0.03  # scattered saturated pixels elsewhere
        x = torch.where(dots, torch.rand(3, 1, 1, generator=gen) * 2 - 1, x)
        assert detect(x) == s.attributes


def test_nothing_drawn_is_none():
    none = {a: NONE for a in ATTRIBUTES}
    scene = random_scene(random.Random(0))
    background = torch.tensor(scene.background, dtype=torch.float32).view(3, 1, 1) / 127.5 - 1
    assert detect(background.expand(3, 32, 32)) == none  # empty background
    assert detect(torch.zeros(3, 32, 32)) == none  # grey
    assert detect(torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 32, 32)) == none  # all red: no shape
    gen = torch.Generator().manual_seed(0)
    assert detect(torch.rand(3, 32, 32, generator=gen) * 2 - 1) == none  # noise
    with pytest.raises(ValueError):
        detect(torch.zeros(1, 3, 32, 32))


def test_analysis_reports_measurements():
    scene = random_scene(random.Random(3), color="blue", shape="triangle", position="left")
    found = analyze(render(scene))
    assert found.attributes == scene.attributes
    assert found.centroid == pytest.approx(scene.center, abs=0.02)
    assert found.area == pytest.approx(0.5 * scene.size**2, rel=0.1)
    assert max(found.shape_scores, key=found.shape_scores.get) == "triangle" and found.shape_scores["triangle"] > 0.9
    assert found.color_votes["blue"] > 0.95
