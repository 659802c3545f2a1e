"""Decoding edge cases, captions, the data config and URL forms."""
import io
import json
import os

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from PIL import Image
from shard_helpers import bad_sample, image_bytes

from stylegan_t.data import CorruptSample, DataConfig, ImageTooSmall, MissingCaption, decode_caption, decode_image, expand_urls, open_image
from stylegan_t.data.config import SourceConfig
from stylegan_t.data.decode import find_image


def test_odd_modes_decode_to_rgb_in_range():
    gray = decode_image(bad_sample("grayscale_png")["png"], 16)
    assert gray.shape == (3, 16, 16) and gray.dtype == torch.float32
    assert torch.equal(gray[0], gray[1]) and abs(gray.mean().item() - (128 / 127.5 - 1)) < 0.01
    png16 = decode_image(bad_sample("png16")["png"], 16)  # 16-bit ramp rescaled, not clipped at 255
    assert png16.min() < -0.9 and 0.0 < png16.max() < 0.95
    rgba = decode_image(bad_sample("rgba")["png"], 16)  # fully transparent red -> the white background
    assert torch.allclose(rgba, torch.ones_like(rgba))
    half = Image.new("RGBA", (16, 16), (0, 0, 0, 128))  # 50% black on white -> mid grey
    assert abs(decode_image(image_bytes(half), 16).mean().item()) < 0.02
    palette = Image.new("P", (16, 16), 3)
    palette.putpalette([0, 0, 0] * 3 + [0, 0, 255] + [0, 0, 0] * 252)
    assert decode_image(image_bytes(palette), 8)[2].mean() > 0.99
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red
    out = decode_image(image_bytes(cmyk, "JPEG", quality=95), 8)
    assert out[0].mean() > 0.9 and out[1].mean() < -0.8
    webp = decode_image(image_bytes(Image.new("RGB", (20, 16), (0, 255, 0)), "WEBP", lossless=True), 8)
    assert webp[1].mean() > 0.99 and webp.min() >= -1 and webp.max() <= 1


def test_corrupt_and_tiny_images_raise_specific_errors():
    with pytest.raises(ImageTooSmall, match="too small"):  # decision: 1x1 is skipped, not upscaled
        decode_image(bad_sample("one_pixel")["png"], 16)
    with pytest.raises(CorruptSample, match="unreadable"):
        decode_image(bad_sample("truncated_jpeg")["jpg"], 16)
    with pytest.raises(CorruptSample, match="unreadable"):
        decode_image(b"definitely not an image", 16)
    assert issubclass(ImageTooSmall, CorruptSample) and issubclass(MissingCaption, CorruptSample)
    small = decode_image(image_bytes(Image.new("RGB", (8, 10), (255, 0, 0))), 32)  # >= min size: upscaled
    assert small.shape == (3, 32, 32) and small[0].mean() > 0.99


def test_center_crop_and_lanczos_resize():
    img = Image.new("RGB", (300, 100), (0, 0, 255))  # red centre square, blue sides
    img.paste((255, 0, 0), (100, 0, 200, 100))
    out = decode_image(image_bytes(img, "JPEG", quality=95), 8)
    assert out[0].mean() > 0.8 and out[2].mean() < -0.8
    tall = Image.new("RGB", (50, 150), (0, 0, 255))
    tall.paste((0, 255, 0), (0, 50, 50, 100))
    assert decode_image(image_bytes(tall), 10)[1].mean() > 0.99


def test_jpeg_draft_decodes_smaller_and_matches():
    x = np.linspace(0, 255, 512)
    arr = np.stack([np.add.outer(x, x) / 2, np.tile(x, (512, 1)), np.tile(x[:, None], (1, 512))], -1).astype(np.uint8)
    data = image_bytes(Image.fromarray(arr), "JPEG", quality=95)
    assert open_image(data, draft_size=64).size == (64, 64)  # libjpeg decoded it at 1/8 scale
    assert open_image(data, draft_size=200).size == (256, 256)  # 1/2: the short side stays >= 200
    fast, slow = decode_image(data, 64, draft=True), decode_image(data, 64, draft=False)
    assert (fast - slow).abs().mean() < 0.02


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: the left half ends up on top
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, exif=exif)
    opened = open_image(buf.getvalue())
    assert opened.size == (20, 40)
    assert opened.getpixel((10, 5))[0] > 200 and opened.getpixel((10, 35))[2] > 200


def test_captions():
    assert decode_caption({"txt": b" a cat \n"}) == "a cat"
    assert decode_caption({"txt": b"caf\xc3\xa9 \xff"}) == "caf\u00e9 \ufffd"  # bad UTF-8 replaced, not fatal
    meta = json.dumps({"caption": "a dog", "meta": {"caps": ["first", "second"]}, "none": None}).encode()
    assert decode_caption({"json": meta}, "json:caption") == "a dog"
    assert decode_caption({"json": meta}, "json:meta.caps.1") == "second"
    assert decode_caption({"caption": b"other member"}, "caption") == "other member"
    for sample, key in [({}, "txt"), ({"txt": b"  "}, "txt"), ({"json": b"{}"}, "json:caption"),
                        ({"json": meta}, "json:none"), ({"json": b"not json"}, "json:caption"), ({"txt": b"x"}, "json:x")]:
        with pytest.raises(MissingCaption):
            decode_caption(sample, key)
    assert find_image({"png": b"1", "jpg": b"2"}, ["jpg", "png"]) == ("jpg", b"2")
    with pytest.raises(CorruptSample, match="no image member"):
        find_image({"txt": b"x"}, ["jpg"])


def test_data_config_validates():
    assert DataConfig(urls=["a.tar", "b.tar"]).all_sources()[0].urls == ["a.tar", "b.tar"]
    mixed = DataConfig(sources=[{"urls": "a/{0..1}.tar", "weight": 2}])
    assert isinstance(mixed.sources[0], SourceConfig) and mixed.sources[0].weight == 2
    for kwargs, match in [({"urls": "a", "sources": [{"urls": "b"}]}, "either"), ({"urls": 3}, "string"),
                          ({"sources": [{"urls": "a", "weight": 0}]}, "weight"), ({"caption_key": "json:"}, "caption_key"),
                          ({"batches_per_epoch": 0}, "batches_per_epoch"), ({"num_workers": -1}, "num_workers")]:
        with pytest.raises(ValueError, match=match):
            DataConfig(**kwargs)
    with pytest.raises(ValueError, match="valid keys"):
        DataConfig.from_dict({"url": "x"})
    with pytest.raises(ValueError, match="data.urls"):
        DataConfig().all_sources()
    # As an OmegaConf structured config (the recipe's data section): typos and wrong types fail at load time.
    schema = OmegaConf.structured(DataConfig)
    cfg = OmegaConf.to_object(OmegaConf.merge(schema, {"urls": ["x/{0..3}.tar"], "sources": [], "caption_key": "json:c"}))
    assert isinstance(cfg, DataConfig) and cfg.urls == ["x/{0..3}.tar"]
    with pytest.raises(OmegaConfBaseException, match="batchsize"):
        OmegaConf.merge(schema, {"batchsize": 3})
    with pytest.raises(OmegaConfBaseException):
        OmegaConf.merge(schema, {"num_workers": "many"})


def test_url_forms(tmp_path, monkeypatch):
    for name in ("b.tar", "a.tar", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    a, b = str(tmp_path / "a.tar"), str(tmp_path / "b.tar")
    assert expand_urls(str(tmp_path)) == [a, b]  # a folder: its .tar files, sorted
    assert expand_urls(str(tmp_path / "*.tar")) == [a, b]  # a glob
    assert expand_urls("/d/{000..002}.tar") == ["/d/000.tar", "/d/001.tar", "/d/002.tar"]
    assert expand_urls(["s3://bkt/{0..1}.tar", "https://h/x.tar", "pipe:cat /x.tar"]) == [
        "pipe:aws s3 cp s3://bkt/0.tar -", "pipe:aws s3 cp s3://bkt/1.tar -", "https://h/x.tar", "pipe:cat /x.tar"]
    assert expand_urls("/d/a.tar::/e/b.tar") == ["/d/a.tar", "/e/b.tar"]
    monkeypatch.setenv("HOME", str(tmp_path))
    assert expand_urls("~/a.tar") == [os.path.join(str(tmp_path), "a.tar")]
