"""DiffAugment and the random crop against the numbers of the original release."""
import pytest
import torch

from stylegan_t.augment import (
    DiffAugment,
    rand_brightness,
    rand_contrast,
    rand_cutout,
    rand_saturation,
    rand_translation,
    random_crop,
)

#: many tiny ops: one intra-op thread per module (conftest.single_thread)
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_keeps_shape_and_passes_gradients(policy):
    x = torch.randn(4, 3, 20, 24, requires_grad=True)
    y = DiffAugment(policy)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_policy_parsing():
    assert DiffAugment(" color , cutout ").policy == ["color", "cutout"]
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(DiffAugment("")(x), x)
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        DiffAugment("colour")


def per_sample_factor(y: torch.Tensor, x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """The scale s in ``y = (x - mean) * s + mean``, one per sample."""
    return ((y - mean).flatten(1) / (x - mean).flatten(1)).median(dim=1).values


def test_color_ranges_match_spec():
    torch.manual_seed(0)
    x = torch.rand(512, 3, 4, 4) * 2 - 1
    shift = (rand_brightness(x) - x).flatten(1)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-6)  # one offset per image
    assert shift.min() >= -0.5 and shift.max() <= 0.5 and shift.min() < -0.45 and shift.max() > 0.45
    sat = per_sample_factor(rand_saturation(x), x, x.mean(dim=1, keepdim=True))
    assert sat.min() >= 0 and sat.max() <= 2 and sat.min() < 0.05 and sat.max() > 1.95
    con = per_sample_factor(rand_contrast(x), x, x.mean(dim=(1, 2, 3), keepdim=True))
    assert con.min() >= 0.5 - 1e-5 and con.max() <= 1.5 + 1e-5 and con.min() < 0.55 and con.max() > 1.45
    gray = torch.rand(4, 1, 5, 5).expand(4, 3, 5, 5)
    assert torch.allclose(rand_saturation(gray), gray, atol=1e-6)  # saturation leaves gray images alone


def test_translation_is_an_integer_shift_up_to_an_eighth_with_zero_padding():
    torch.manual_seed(0)
    h = w = 40  # max shift round(40 / 8) = 5
    x = (torch.arange(h * w, dtype=torch.float32) + 1).view(1, 1, h, w).repeat(256, 2, 1, 1)
    y = rand_translation(x)
    seen = set()
    for img, out in zip(x, y):
        nz = out[0].nonzero()
        top, left = nz.min(dim=0).values.tolist()
        value = out[0, top, left].item() - 1  # input pixel index that landed at (top, left)
        sy, sx = int(value // w) - top, int(value % w) - left
        assert abs(sy) <= 5 and abs(sx) <= 5
        seen.add((sy, sx))
        expected = torch.zeros(h, w)
        source = img[0, max(0, sy) : h + min(0, sy), max(0, sx) : w + min(0, sx)]
        expected[max(0, -sy) : h - max(0, sy), max(0, -sx) : w - max(0, sx)] = source
        assert torch.equal(out[0], expected) and torch.equal(out[1], expected)
    assert {s for s, _ in seen} == set(range(-5, 6)) and {s for _, s in seen} == set(range(-5, 6))


def test_cutout_zeroes_one_fifth_square():
    torch.manual_seed(0)
    x = torch.ones(256, 3, 40, 40)
    y = rand_cutout(x)
    holes = y[:, 0] == 0
    assert torch.equal(holes[:, None].expand_as(y), y == 0)  # same hole in every channel
    sizes = holes.flatten(1).sum(dim=1)
    assert sizes.max() == 8 * 8 and sizes.min() > 0  # round(40 / 5) = 8, clipped at the borders
    for hole in holes[:16]:
        rows, cols = hole.any(dim=1).nonzero().flatten(), hole.any(dim=0).nonzero().flatten()
        assert hole.sum() == len(rows) * len(cols) and len(rows) <= 8 and len(cols) <= 8  # a rectangle


def test_random_crop_probability_and_window():
    x = torch.randn(2, 3, 256, 256)
    torch.manual_seed(0)
    crop = random_crop(x, 224, p=1.0)
    assert crop.shape == (2, 3, 224, 224)
    matches = [(t, s) for t in range(33) for s in range(33) if torch.equal(x[..., t : t + 224, s : s + 224], crop)]
    assert len(matches) == 1  # one window, the same for the whole batch
    assert random_crop(x, 224, p=0.0) is x
    small = torch.randn(1, 3, 224, 224)
    assert random_crop(small, 224, p=1.0) is small  # only larger images are cropped
    cropped = sum(random_crop(x, 224, p=0.5).shape[-1] == 224 for _ in range(400))
    assert 150 < cropped < 250


def test_reproducible_from_the_torch_seed():
    x = torch.randn(4, 3, 48, 48)
    torch.manual_seed(7)
    a = random_crop(DiffAugment()(x), 32, p=0.5)
    torch.manual_seed(7)
    b = random_crop(DiffAugment()(x), 32, p=0.5)
    assert torch.equal(a, b)


def test_bf16_images():
    x = torch.randn(2, 3, 16, 16, dtype=torch.bfloat16)
    y = DiffAugment()(x)
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()


def test_generator_drives_every_op_and_leaves_the_global_rng_alone():
    x = torch.randn(4, 3, 32, 32)
    state = torch.get_rng_state()
    a = random_crop(DiffAugment()(x, torch.Generator().manual_seed(1)), 16, p=0.5, generator=torch.Generator().manual_seed(2))
    b = random_crop(DiffAugment()(x, torch.Generator().manual_seed(1)), 16, p=0.5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(DiffAugment()(x, torch.Generator().manual_seed(1)), DiffAugment()(x, torch.Generator().manual_seed(3)))
