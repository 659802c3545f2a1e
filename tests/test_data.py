"""Data layer: decoding edge cases, URL forms, exact skip counts, rank/worker splits, epochs, folders."""
import collections
import io
import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from shard_helpers import DROPPED_BAD, SKIPPED_BAD, bad_sample, image_bytes, write_test_shards
from stylegan_t.data import CorruptSample, DataConfig, ImageFolderDataset, ShardedImageTextDataset, decode_caption, decode_image, expand_urls
from stylegan_t.data.config import SourceConfig


def test_decode_edge_cases():
    gray = decode_image(bad_sample("grayscale_png")["png"], 16)
    assert gray.shape == (3, 16, 16) and torch.allclose(gray[0], gray[1]) and abs(gray.mean().item() - (128 / 127.5 - 1)) < 0.01
    png16 = decode_image(bad_sample("png16")["png"], 16)
    assert png16.min() < -0.9 and png16.max() > 0.0 and png16.max() < 0.95  # scaled from 16 bits, not saturated
    rgba = decode_image(bad_sample("rgba")["png"], 16)
    assert torch.allclose(rgba, torch.ones_like(rgba))  # fully transparent -> white background
    with pytest.raises(CorruptSample, match="too small"):
        decode_image(bad_sample("one_pixel")["png"], 16)
    with pytest.raises(CorruptSample, match="unreadable"):
        decode_image(bad_sample("truncated_jpeg")["jpg"], 16)
    # Centre crop: a wide image with a red centre and blue sides keeps only the red square.
    img = Image.new("RGB", (300, 100), (0, 0, 255))
    img.paste((255, 0, 0), (100, 0, 200, 100))
    out = decode_image(image_bytes(img, "JPEG", quality=95), 8)
    assert out[0].mean() > 0.8 and out[2].mean() < -0.8


def test_caption_sources():
    assert decode_caption({"txt": b" a cat \n"}, "txt") == "a cat"
    assert decode_caption({"json": json.dumps({"meta": {"caption": "a dog"}}).encode()}, "json:meta.caption") == "a dog"
    for sample, key in [({}, "txt"), ({"txt": b"  "}, "txt"), ({"json": b"{}"}, "json:caption")]:
        with pytest.raises(CorruptSample):
            decode_caption(sample, key)


def test_url_forms(tmp_path):
    for name in ("b.tar", "a.tar", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert expand_urls(str(tmp_path)) == [str(tmp_path / "a.tar"), str(tmp_path / "b.tar")]
    assert expand_urls("/d/{000..002}.tar") == ["/d/000.tar", "/d/001.tar", "/d/002.tar"]
    assert expand_urls(["s3://bkt/{0..1}.tar", "https://h/x.tar"]) == [
        "pipe:aws s3 cp s3://bkt/0.tar -", "pipe:aws s3 cp s3://bkt/1.tar -", "https://h/x.tar"]


def collect(dataset, **loader_kw):
    captions, skipped, dropped, batches = [], 0, 0, 0
    for batch in DataLoader(dataset, batch_size=None, **loader_kw):
        assert batch["image"].shape[1:] == (3, 16, 16) and batch["image"].dtype == torch.float32
        captions += batch["caption"]
        skipped += int(batch["num_skipped"])
        dropped += int(batch["num_dropped"])
        batches += 1
    return captions, skipped, dropped, batches


def test_bad_samples_are_skipped_and_counted_exactly(tmp_path):
    info = write_test_shards(tmp_path, num_shards=4, samples_per_shard=8)
    valid = len(info["captions"])  # 32 good + 3 odd-but-usable images
    cfg = DataConfig(urls=str(tmp_path), num_workers=0, sample_shuffle=1, batches_per_epoch=7)
    captions, skipped, dropped, batches = collect(ShardedImageTextDataset(cfg, resolution=16, batch_size=5))
    assert batches == 7 and valid == 35
    assert sorted(captions) == sorted(info["captions"])  # one full pass: every usable sample exactly once
    assert skipped == len(SKIPPED_BAD) and dropped == len(DROPPED_BAD)


def test_ranks_and_workers_see_disjoint_samples_and_equal_batches(tmp_path):
    info = write_test_shards(tmp_path, num_shards=16, samples_per_shard=5, include_bad=False)
    cfg = DataConfig(urls=info["pattern"], num_workers=2, sample_shuffle=4, batches_per_epoch=5)
    per_rank = []
    for rank in range(2):
        ds = ShardedImageTextDataset(cfg, resolution=16, batch_size=4, seed=3, rank=rank, world_size=2)
        captions, _, _, batches = collect(ds, num_workers=2)
        assert batches == 5 and len(captions) == 20
        per_rank.append(set(captions))
    assert not per_rank[0] & per_rank[1]
    assert len(per_rank[0] | per_rank[1]) == 40


def test_epochs_reshuffle_and_same_epoch_repeats(tmp_path):
    info = write_test_shards(tmp_path, num_shards=8, samples_per_shard=4, include_bad=False)
    cfg = DataConfig(urls=info["pattern"], num_workers=0, sample_shuffle=8, batches_per_epoch=4)
    ds = ShardedImageTextDataset(cfg, resolution=16, batch_size=4, seed=0)
    first = collect(ds)[0]
    assert collect(ds)[0] == first  # deterministic for a given epoch
    ds.set_epoch(1)
    assert collect(ds)[0] != first


def test_weighted_sources(tmp_path):
    a = write_test_shards(tmp_path / "a", num_shards=2, samples_per_shard=10, include_bad=False)
    b = write_test_shards(tmp_path / "b", num_shards=2, samples_per_shard=10, include_bad=False)
    # Mark source b's captions so they can be told apart.
    for shard in b["shards"]:
        members = []
        with tarfile.open(shard) as tar:
            members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
        with tarfile.open(shard, "w") as tar:
            for name, data in members:
                data = b"B " + data if name.endswith(".txt") else data
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    cfg = DataConfig(sources=[SourceConfig(urls=a["pattern"], weight=3.0), SourceConfig(urls=b["pattern"], weight=1.0)],
                     num_workers=0, sample_shuffle=1, batches_per_epoch=50)
    captions = collect(ShardedImageTextDataset(cfg, resolution=16, batch_size=8))[0]
    share_b = sum(c.startswith("B ") for c in captions) / len(captions)
    assert 0.17 < share_b < 0.33  # ~1/4


def test_no_readable_samples_fails_clearly(tmp_path):
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    cfg = DataConfig(urls=str(tmp_path / "empty.tar"), num_workers=0, batches_per_epoch=1)
    with pytest.raises(RuntimeError, match="no readable samples"):
        collect(ShardedImageTextDataset(cfg, resolution=16, batch_size=2))
    with pytest.raises(ValueError, match="not found"):
        ShardedImageTextDataset(DataConfig(urls=str(tmp_path / "nothing_here")), resolution=16, batch_size=2)


def test_image_folder_dataset(tmp_path):
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (20, 20), color).save(tmp_path / f"img{i}.png")
        if i < 2:
            (tmp_path / f"img{i}.txt").write_text(f"caption {i}")
    ds = ImageFolderDataset(tmp_path, resolution=8)
    assert len(ds) == 2 and ds.num_dropped == 1
    sample = ds[1]
    assert sample["caption"] == "caption 1" and sample["image"].shape == (3, 8, 8)
    assert np.isclose(sample["image"][1].mean().item(), 1.0, atol=1e-3)
