"""Losses, D-input blur schedule, CLIP guidance and DiffAugment against SPEC numbers."""
import math

import pytest
import torch

from stylegan_t.augment import DiffAugment, rand_cutout, rand_translation, random_crop
from stylegan_t.losses import blur_images, blur_kernel, blur_sigma, d_hinge_loss, g_nonsaturating_loss
from stylegan_t.losses.clip_guidance import CLIPGuidance, spherical_distance


def test_hinge_and_nonsaturating_losses():
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    # real: relu(1 - r) = [0, 0.5, 2] -> 2.5/3 ; fake: relu(1 + f) = [0, 1, 2] -> 1
    assert d_hinge_loss(real, fake).item() == pytest.approx(2.5 / 3 + 1.0)
    assert g_nonsaturating_loss(fake).item() == pytest.approx(1 / 3)


def test_blur_kernel_and_schedule_match_spec():
    assert blur_sigma(0) == 32.0
    assert blur_sigma(500_000) == pytest.approx(16.0)
    assert blur_sigma(1_000_000) == 0.0 and blur_sigma(5_000_000) == 0.0
    k = blur_kernel(2.0)
    i = torch.arange(-6, 7, dtype=torch.float32)
    expected = 2 ** (-(i / 2.0) ** 2)
    assert k.numel() == 13 and torch.allclose(k, expected / expected.sum())
    assert blur_kernel(32.0).numel() == 2 * 96 + 1
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(blur_images(x, 0.0), x)
    y = blur_images(x, 1.5)
    assert y.shape == x.shape and y.std() < x.std()
    # Separable blur equals the 2D outer-product kernel with zero padding.
    k2 = torch.outer(blur_kernel(1.5), blur_kernel(1.5))
    ref = torch.nn.functional.conv2d(x, k2.expand(3, 1, *k2.shape), padding=k2.shape[-1] // 2, groups=3)
    assert torch.allclose(y, ref, atol=1e-5)


def test_spherical_distance_values():
    a = torch.tensor([[1.0, 0.0]])
    assert spherical_distance(a, a * 3).item() == pytest.approx(0.0, abs=1e-3)
    assert spherical_distance(a, torch.tensor([[0.0, 2.0]])).item() == pytest.approx((math.pi / 2) ** 2, rel=1e-5)
    assert spherical_distance(a, -a).item() == pytest.approx(math.pi**2, rel=1e-3)


def test_clip_guidance_crops_resizes_and_backpropagates(tiny_clip):
    guide = CLIPGuidance(tiny_clip, crop=64)
    assert not any(p.requires_grad for p in guide.parameters())
    images = torch.rand(2, 3, 96, 96, requires_grad=True)
    pre = guide.preprocess(images * 2 - 1)
    assert pre.shape == (2, 3, 32, 32)  # cropped to 64 then area-resized to the tiny CLIP's 32
    loss = guide(images * 2 - 1, ["a red circle", "a blue square"])
    assert loss.ndim == 0 and 0 <= loss.item() <= math.pi**2
    loss.backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_diffaugment_keeps_shape_and_passes_gradients():
    x = torch.randn(4, 3, 20, 20, requires_grad=True)
    y = DiffAugment("color,translation,cutout")(x)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        DiffAugment("colour")


def test_translation_and_cutout_geometry():
    torch.manual_seed(0)
    x = torch.ones(64, 1, 40, 40)
    shifted = rand_translation(x)
    # Up to 5 px (1/8 of 40) of zero padding on each axis, never more.
    zero_rows = (shifted.sum(dim=3) == 0).sum(dim=2).flatten()
    assert zero_rows.max() <= 5 and zero_rows.max() > 0
    cut = rand_cutout(x)
    zeros = (cut == 0).flatten(1).sum(dim=1)
    assert zeros.max() == 8 * 8 and zeros.min() > 0  # one 8x8 square (1/5 of 40), clipped at borders


def test_random_crop():
    x = torch.randn(2, 3, 256, 256)
    assert random_crop(x, 224, p=1.0).shape == (2, 3, 224, 224)
    assert random_crop(x, 224, p=0.0).shape == x.shape
    assert random_crop(torch.randn(1, 3, 64, 64), 224, p=1.0).shape == (1, 3, 64, 64)
