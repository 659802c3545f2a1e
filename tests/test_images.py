"""The shared helpers: uint8 quantization, grids, crops, seeded latents, the tar writer, the constants, and the
one input path of the pretrained image networks."""
import re
import tarfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from stylegan_t.constants import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD
from stylegan_t.data.tarfiles import add_member, atomic_tar
from stylegan_t.images import crop_window, image_grid, pretrained_input, to_pil, to_uint8
from stylegan_t.latents import seed_latent, seed_latents
from stylegan_t.utils.text import comma_items


def test_to_uint8_inverts_the_float_conversion_and_clamps():
    u = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    assert torch.equal(to_uint8(u.float() / 127.5 - 1), u)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]
    assert to_uint8(u) is u
    with pytest.raises(TypeError):
        to_uint8(torch.zeros(2, dtype=torch.int32))


def test_grid_from_tensor_and_from_pil_images_agree():
    x = torch.rand(5, 3, 4, 6) * 2 - 1
    grid = image_grid(x, cols=2)
    assert grid.size == (12, 12) and grid.mode == "RGB"
    assert list(grid.getdata()) == list(image_grid(to_pil(x), cols=2).getdata())
    assert grid.getpixel((6, 4)) == tuple(to_uint8(x[3, :, 0, 0]).tolist())  # image 3: row 1, column 1
    with pytest.raises(ValueError):
        image_grid([], cols=2)


def test_random_crop_window_follows_its_generator():
    x = torch.arange(2 * 10 * 10, dtype=torch.float32).reshape(2, 1, 10, 10)
    a = crop_window(x, 4, generator=torch.Generator().manual_seed(3))
    b = crop_window(x, 4, generator=torch.Generator().manual_seed(3))
    assert a.shape == (2, 1, 4, 4) and torch.equal(a, b)
    assert torch.equal(a[1] - a[0], torch.full((1, 4, 4), 100.0))  # one window for the whole batch
    assert crop_window(x, 10) is x


def test_seed_latents_are_per_seed_and_device_independent():
    z = seed_latents([3, 4], 8)
    assert torch.equal(z[0], seed_latent(3, 8)) and not torch.equal(z[0], z[1])
    assert torch.equal(seed_latent(3, 8), torch.randn(8, generator=torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError):
        seed_latent(-1, 8)


def test_comma_items_strip_and_drop_empty_items_in_order():
    assert comma_items(" b, a,, b ,") == ["b", "a", "b"]
    assert comma_items(" , ") == [] and comma_items("") == []


def test_atomic_tar_is_deterministic_and_complete_or_absent(tmp_path):
    for name in ("a.tar", "b.tar"):
        with atomic_tar(tmp_path / name) as tar:
            add_member(tar, "k.txt", b"caption")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as tar:
        assert tar.extractfile("k.txt").read() == b"caption"
    with pytest.raises(RuntimeError), atomic_tar(tmp_path / "c.tar") as tar:
        add_member(tar, "k.txt", b"x")
        raise RuntimeError("interrupted")
    assert not (tmp_path / "c.tar").exists()


def test_normalisation_constants():
    assert CLIP_MEAN[0] == pytest.approx(0.48145466) and CLIP_STD[2] == pytest.approx(0.27577711)
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)


MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def _normalized(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


@pytest.mark.parametrize(("resize", "antialias"), [("area", False), ("bilinear", True), ("bicubic", False), ("bicubic", True)])
def test_pretrained_input_is_unit_range_resize_then_normalisation(resize, antialias):
    x = torch.rand(2, 3, 20, 20) * 2 - 1
    align = None if resize == "area" else False
    ref = _normalized(F.interpolate((x + 1) / 2, size=(8, 8), mode=resize, align_corners=align, antialias=antialias))
    assert torch.equal(pretrained_input(x, size=8, mean=MEAN, std=STD, resize=resize, antialias=antialias), ref)


def test_pretrained_input_reads_uint8_skips_a_resize_to_the_same_size_and_keeps_the_dtype():
    u = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    assert torch.equal(pretrained_input(u, size=(8, 8), mean=MEAN, std=STD, resize="bicubic"), _normalized(u.float() / 255))
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64) * 2 - 1
    out = pretrained_input(x, size=8, mean=torch.tensor(MEAN), std=torch.tensor(STD))
    assert out.dtype == torch.float64  # float32 statistics cast to the images' dtype, as the discriminator's input
    assert torch.equal(out, (((x + 1) / 2) - torch.tensor(MEAN).double().view(1, 3, 1, 1)) / torch.tensor(STD).double().view(1, 3, 1, 1))


def test_pretrained_input_clamps_only_when_asked_and_passes_gradients():
    x = torch.full((1, 3, 4, 4), 3.0, requires_grad=True)
    assert torch.allclose(pretrained_input(x, size=4, mean=MEAN, std=STD, clamp=True), _normalized(torch.ones(1, 3, 4, 4)))
    pretrained_input(x, size=2, mean=MEAN, std=STD).sum().backward()
    assert x.grad is not None and torch.all(x.grad > 0)


def test_pretrained_input_refuses_unknown_modes_and_antialiased_area():
    x = torch.zeros(1, 3, 4, 4)
    with pytest.raises(ValueError, match="resize must be one of"):
        pretrained_input(x, size=2, mean=MEAN, std=STD, resize="nearest")
    with pytest.raises(ValueError, match="antialias"):
        pretrained_input(x, size=2, mean=MEAN, std=STD, resize="area", antialias=True)


def test_clip_image_settings_fall_back_to_clip_normalisation():
    from torch import nn

    from stylegan_t.models.open_clip_loader import image_settings

    assert image_settings(None) == ((224, 224), CLIP_MEAN, CLIP_STD)
    tower = nn.Identity()
    tower.image_size, tower.image_mean, tower.image_std = [32, 32], [0.5] * 3, [0.5] * 3
    assert image_settings(tower) == ((32, 32), (0.5,) * 3, (0.5,) * 3)


#: the package's files that resize images themselves or name normalisation constants, and why
OWN_RESIZE_OR_STATS = {
    "images.py": "the one home: pretrained_input",
    "constants.py": "the published constants",
    "models/open_clip_loader.py": "a CLIP tower's settings fall back to CLIP's constants",
    "models/discriminator/feature_networks.py": "DINO's ImageNet statistics as default; the conv stand-in has no statistics",
    "clip_pretraining/train.py": "the normalisation a pretrained CLIP is trained with and saved with",
    "metrics/fid.py": "the Inception's own resize (TF-compatible or torchmetrics'), no normalisation",
    "demo/emoji_judge.py": "the judge CNN's own input (no pretrained statistics)",
}


def test_pretrained_network_input_has_one_home():
    """Only the files above resize images or name mean/std constants; every other site calls pretrained_input."""
    root = Path(__file__).resolve().parents[1] / "stylegan_t"
    pattern = re.compile(r"\binterpolate\(|\b(CLIP|IMAGENET)_(MEAN|STD)\b")
    found = {p.relative_to(root).as_posix() for p in root.rglob("*.py") if pattern.search(p.read_text())}
    assert found <= set(OWN_RESIZE_OR_STATS), sorted(found - set(OWN_RESIZE_OR_STATS))
    assert set(OWN_RESIZE_OR_STATS) <= found, "no longer needed: " + str(sorted(set(OWN_RESIZE_OR_STATS) - found))
