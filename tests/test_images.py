"""The shared helpers: uint8 quantization, grids, crops, seeded latents, the tar writer, the constants."""
import tarfile

import pytest
import torch

from stylegan_t.constants import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD
from stylegan_t.data.tarfiles import add_member, atomic_tar
from stylegan_t.images import crop_window, image_grid, to_pil, to_uint8
from stylegan_t.latents import seed_latent, seed_latents


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
