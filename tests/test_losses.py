"""Adversarial losses, the D-input blur and its schedule, and CLIP guidance, against the paper and original-release numbers."""
import math

import pytest
import torch
import torch.nn.functional as F

from stylegan_t.losses import (
    blur_images,
    blur_kernel,
    blur_sigma,
    d_hinge_loss,
    d_mismatch_loss,
    g_nonsaturating_loss,
    mismatched_conditions,
)
from stylegan_t.losses.clip_guidance import CLIPGuidance, spherical_distance

#: many tiny ops: one intra-op thread per module (conftest.single_thread)
pytestmark = pytest.mark.usefixtures("single_thread")


def test_hinge_and_nonsaturating_losses():
    real, fake = torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([[-2.0, 0.0, 1.0]])
    # relu(1 - real) = [0, 0.5, 2] -> 2.5/3 ; relu(1 + fake) = [0, 1, 2] -> 1
    assert d_hinge_loss(real, fake).item() == pytest.approx(2.5 / 3 + 1.0)
    assert g_nonsaturating_loss(fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.0) / 3)
    assert d_hinge_loss(real.bfloat16(), fake.bfloat16()).dtype == torch.float32


def test_mismatched_conditions_skip_paraphrases():
    c = F.normalize(torch.randn(4, 8), dim=-1)
    c[2] = c[1] * 1.0001  # sample 2's caption says what sample 1's says
    wrong, keep = mismatched_conditions(c)
    assert torch.equal(wrong, c.roll(1, dims=0))
    assert keep.tolist() == [True, True, False, True]


def test_hardest_mismatch_is_the_most_similar_caption_that_is_no_paraphrase():
    """Conditionings 'red circle' / 'red square' (cosine 0.8) / 'blue circle' (0) / a paraphrase of 'red circle':
    the hardest negative of 'red circle' is 'red square', never its paraphrase or itself."""
    e = torch.eye(4)
    red_circle, red_square = e[0], 0.8 * e[0] + 0.6 * e[1]
    c = torch.stack([red_circle, red_square, e[2], F.normalize(red_circle + 0.01 * e[3], dim=0)])
    wrong, keep = mismatched_conditions(c, hardest=True)
    assert keep.tolist() == [True, True, True, True]
    assert torch.equal(wrong[0], red_square) and torch.equal(wrong[3], red_square) and torch.equal(wrong[1], c[0])
    alone = torch.stack([red_circle, red_circle.clone()])  # only a paraphrase in the batch: no negative at all
    assert mismatched_conditions(alone, hardest=True)[1].tolist() == [False, False]


def test_mismatch_loss_counts_only_kept_pairs():
    logits = torch.tensor([[0.5, 0.5], [-2.0, -2.0], [3.0, 3.0]], requires_grad=True)
    keep = torch.tensor([True, True, False])
    loss = d_mismatch_loss(logits, keep)
    assert loss.item() == pytest.approx((1.5 + 0.0) / 3)
    loss.backward()
    assert logits.grad[2].abs().sum() == 0 and logits.grad[0].abs().sum() > 0
    assert d_mismatch_loss(logits, torch.zeros(3, dtype=torch.bool)).item() == 0


def test_blur_schedule_matches_spec():
    # sigma = max(1 - nimg / (fade_kimg * 1000), 0) * sigma_0, sigma_0 = 32, fade_kimg = 1000
    assert blur_sigma(0) == 32.0
    assert blur_sigma(250_000) == pytest.approx(24.0)
    assert blur_sigma(500_000) == pytest.approx(16.0)
    assert blur_sigma(999_000) == pytest.approx(0.032)
    assert blur_sigma(1_000_000) == 0.0 and blur_sigma(5_000_000) == 0.0
    assert blur_sigma(100_000, sigma0=2.0, fade_kimg=200) == pytest.approx(1.0)
    assert blur_sigma(0, fade_kimg=0) == 0.0


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.5, 16.0, 32.0])
def test_blur_kernel_matches_spec(sigma):
    radius = math.floor(3 * sigma)
    k = blur_kernel(sigma)
    expected = torch.tensor([2 ** (-((i / sigma) ** 2)) for i in range(-radius, radius + 1)], dtype=torch.float64)
    assert k.numel() == 2 * radius + 1
    assert torch.allclose(k.double(), expected / expected.sum(), atol=1e-7, rtol=0)
    assert k.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_no_blur_at_sigma_zero_or_below_a_third():
    x = torch.randn(2, 3, 16, 16)
    assert blur_images(x, 0.0) is x
    assert blur_kernel(0.3).tolist() == [1.0] and blur_images(x, 0.3) is x  # floor(3 * 0.3) = 0 taps each side


@pytest.mark.parametrize("sigma", [1.5, 32.0])
def test_blur_is_the_separable_kernel_with_zero_padding(sigma):
    x = torch.randn(2, 3, 16, 20)
    k = blur_kernel(sigma, dtype=torch.float64)
    k2 = torch.outer(k, k)
    ref = F.conv2d(x.double(), k2.expand(3, 1, *k2.shape), padding=k.numel() // 2, groups=3)
    y = blur_images(x, sigma)
    assert y.shape == x.shape and torch.allclose(y.double(), ref, atol=1e-5)
    const = blur_images(torch.ones(1, 1, 64, 64), 1.0)
    assert torch.allclose(const[..., 4:-4, 4:-4], torch.ones(1, 1, 56, 56), atol=1e-6)  # sums to 1 inside


def test_blur_passes_gradients_and_runs_in_bf16():
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    blur_images(x, 2.0).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert blur_images(x.detach().bfloat16(), 2.0).dtype == torch.bfloat16


def test_spherical_distance_values():
    a = torch.tensor([[1.0, 0.0]])
    assert spherical_distance(a, a * 3).item() == pytest.approx(0.0, abs=1e-6)
    assert spherical_distance(a, torch.tensor([[0.0, 2.0]])).item() == pytest.approx((math.pi / 2) ** 2, rel=1e-6)
    assert spherical_distance(a, torch.tensor([[1.0, 1.0]])).item() == pytest.approx((math.pi / 4) ** 2, rel=1e-6)
    assert spherical_distance(a, -a).item() == pytest.approx(math.pi**2, rel=1e-3)
    x = torch.randn(3, 5, requires_grad=True)
    spherical_distance(x, x.detach() * 2).sum().backward()  # aligned vectors: finite gradients
    assert torch.isfinite(x.grad).all()


@pytest.fixture(scope="module")
def guidance(tiny_clip) -> CLIPGuidance:
    return CLIPGuidance(tiny_clip, crop=64)


def test_clip_guidance_is_frozen_and_loaded_offline(guidance, tmp_path):
    from stylegan_t.utils.local_files import MissingWeightsError

    guidance.train()
    assert not guidance.training and not guidance.model.training
    assert not any(p.requires_grad for p in guidance.parameters())
    with pytest.raises(MissingWeightsError):
        CLIPGuidance("ViT-B-32", str(tmp_path / "missing.safetensors"))


def test_clip_guidance_crops_64_then_area_resizes(guidance):
    images = torch.rand(2, 3, 96, 96) * 2 - 1
    torch.manual_seed(3)
    pre = guidance.preprocess(images)
    assert pre.shape == (2, 3, 32, 32)  # the tiny CLIP's input size (224 for ViT-L/14)
    mean, std = guidance.mean, guidance.std
    windows = [images[..., t : t + 64, s : s + 64] for t in range(33) for s in range(33)]
    refs = [(F.avg_pool2d((w + 1) / 2, 2) - mean) / std for w in windows]  # 64 -> 32 area resize = 2x2 mean
    assert sum(torch.allclose(pre, r, atol=1e-6) for r in refs) == 1
    small = torch.rand(1, 3, 16, 16) * 2 - 1  # not cropped, upsampled
    assert torch.allclose(guidance.preprocess(small), (F.interpolate((small + 1) / 2, size=32, mode="area") - mean) / std)


def test_clip_guidance_loss_and_gradients(guidance):
    images = (torch.rand(2, 3, 96, 96) * 2 - 1).requires_grad_(True)
    captions = ["a red circle", "a blue square"]
    torch.manual_seed(0)
    loss = guidance(images, captions)
    assert loss.ndim == 0 and 0 <= loss.item() <= math.pi**2
    loss.backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    torch.manual_seed(0)
    with torch.no_grad():  # text given as this CLIP's features instead of captions: same value
        from_features = guidance(images, guidance.encode_text(captions))
    assert from_features.item() == pytest.approx(loss.item(), rel=1e-6)
