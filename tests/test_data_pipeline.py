"""The shard pipeline: exact skip counts, rank/worker splits, epochs, sources, resume, URL forms, failures."""
import logging
import tarfile
import time

import pytest
import torch
from PIL import Image
from shard_helpers import add_member, image_bytes, valid_sample, write_test_shards
from torch.utils.data import DataLoader

from stylegan_t.data import DataConfig, NoSamplesError, ShardedImageTextDataset, ShardLoader, read_tar_samples
from stylegan_t.data.config import SourceConfig

R = 16


def collect(dataset, *, num_workers=0):
    """(keys, captions, batches, counts) from one epoch through a plain DataLoader."""
    keys, captions, batches = [], [], 0
    counts = {"num_skipped": 0, "num_dropped": 0, "num_shard_errors": 0}
    for batch in DataLoader(dataset, batch_size=None, num_workers=num_workers):
        keys += batch["key"]
        captions += batch["caption"]
        batches += 1
        for name in counts:
            counts[name] += batch[name]
    return keys, captions, batches, counts


def test_batch_contract_and_exact_counts_with_bad_samples(tmp_path):
    shards = write_test_shards(tmp_path, num_shards=4, samples_per_shard=8)
    assert shards.num_valid == 35
    # 35 usable samples = 7 batches of 5: one pass, every usable sample exactly once, every bad one met.
    cfg = DataConfig(urls=shards.folder, num_workers=0, sample_shuffle=1, batches_per_epoch=7)
    ds = ShardedImageTextDataset(cfg, resolution=R, batch_size=5)
    batch = next(iter(ds))
    assert set(batch) == {"image", "caption", "key", "num_skipped", "num_dropped", "num_shard_errors"}
    assert batch["image"].shape == (5, 3, R, R) and batch["image"].dtype == torch.float32
    assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert all(isinstance(c, str) and c for c in batch["caption"]) and len(batch["key"]) == 5
    keys, captions, batches, counts = collect(ds)
    assert batches == len(ds) == 7
    assert sorted(captions) == sorted(shards.captions)
    assert counts == {"num_skipped": shards.num_skipped, "num_dropped": shards.num_dropped, "num_shard_errors": 0}


def test_caption_from_json_field(tmp_path):
    shards = write_test_shards(tmp_path, num_shards=2, samples_per_shard=4)
    for key in ("json:caption", "json:meta.caption"):
        cfg = DataConfig(urls=shards.folder, caption_key=key, num_workers=0, sample_shuffle=1, batches_per_epoch=1)
        _, captions, _, counts = collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=shards.num_valid))
        assert sorted(captions) == sorted(shards.captions)
        assert (counts["num_skipped"], counts["num_dropped"]) == (2, 1)
    cfg = DataConfig(urls=shards.folder, caption_key="json:nope", num_workers=0, sample_shuffle=1, batches_per_epoch=1)
    with pytest.raises(NoSamplesError, match="no readable samples"):  # all dropped: fails, does not hang
        collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=2))


@pytest.mark.parametrize("num_shards, per_shard", [(16, 5), (2, 10)])  # shard split; fewer shards than slots
def test_two_ranks_two_workers_disjoint_and_equal(tmp_path, num_shards, per_shard):
    shards = write_test_shards(tmp_path, num_shards=num_shards, samples_per_shard=per_shard, include_bad=False)
    total = num_shards * per_shard  # batch 4 (or 5) per rank x batches: exactly one pass over the data
    batch_size = 4 if num_shards == 16 else 5
    cfg = DataConfig(urls=shards.pattern, num_workers=2, sample_shuffle=4, batches_per_epoch=total // (2 * batch_size))
    per_rank = []
    for rank in range(2):
        ds = ShardedImageTextDataset(cfg, resolution=R, batch_size=batch_size, seed=3, rank=rank, world_size=2)
        keys, _, batches, _ = collect(ds, num_workers=2)
        assert batches == cfg.batches_per_epoch and len(keys) == len(set(keys)) == total // 2
        per_rank.append(set(keys))
    assert not per_rank[0] & per_rank[1]
    assert len(per_rank[0] | per_rank[1]) == total


def test_uneven_shards_still_give_equal_batch_counts(tmp_path):
    write_test_shards(tmp_path, num_shards=3, samples_per_shard=4, include_bad=False)  # 3 shards, 2 ranks
    cfg = DataConfig(urls=str(tmp_path), num_workers=0, sample_shuffle=8, batches_per_epoch=5)
    counts = [collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=3, rank=r, world_size=2))[2] for r in range(2)]
    assert counts == [5, 5]  # the rank with less data cycles its shards


def test_epochs_reshuffle_deterministically(tmp_path):
    write_test_shards(tmp_path, num_shards=8, samples_per_shard=4, include_bad=False)
    cfg = DataConfig(urls=str(tmp_path), num_workers=0, sample_shuffle=8, batches_per_epoch=4)
    ds = ShardedImageTextDataset(cfg, resolution=R, batch_size=4, seed=0)
    first = collect(ds)[0]
    assert collect(ds)[0] == first  # same seed and epoch: same order
    ds.set_epoch(1)
    second = collect(ds)[0]
    assert second != first
    assert collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=4, seed=1))[0] != first


def test_resampled_shards(tmp_path):
    write_test_shards(tmp_path, num_shards=4, samples_per_shard=4, include_bad=False)
    cfg = DataConfig(urls=str(tmp_path), resampled=True, num_workers=0, sample_shuffle=4, batches_per_epoch=6)
    runs = [collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=4, rank=r, world_size=2)) for r in (0, 0, 1)]
    assert [r[2] for r in runs] == [6, 6, 6]
    assert runs[0][0] == runs[1][0] and runs[0][0] != runs[2][0]


def test_weighted_sources(tmp_path):
    a = write_test_shards(tmp_path / "a", num_shards=2, samples_per_shard=10, include_bad=False)
    b = tmp_path / "b"
    b.mkdir()
    with tarfile.open(b / "00000.tar", "w") as tar:
        for i in range(20):
            members, _ = valid_sample(i)
            members["txt"] = f"from b {i}".encode()
            for ext, data in members.items():
                add_member(tar, f"b{i:03d}.{ext}", data)
    cfg = DataConfig(sources=[SourceConfig(urls=a.pattern, weight=3.0), SourceConfig(urls=str(b), weight=1.0)],
                     num_workers=0, sample_shuffle=1, batches_per_epoch=40)
    captions = collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=8))[1]
    share_b = sum(c.startswith("from b") for c in captions) / len(captions)
    assert 0.19 < share_b < 0.31  # ~1/4 of 320 samples


def test_broken_and_empty_tars_are_not_fatal(tmp_path):
    shards = write_test_shards(tmp_path, num_shards=2, samples_per_shard=6, include_bad=False)
    data = open(shards[0], "rb").read()
    (tmp_path / "00002.tar").write_bytes(data[: len(data) // 2])  # truncated tar
    (tmp_path / "00003.tar").write_bytes(b"this is not a tar file")
    with tarfile.open(tmp_path / "00004.tar", "w"):
        pass  # empty tar
    errors = []
    partial = list(read_tar_samples(str(tmp_path / "00002.tar"), on_error=lambda url, err: errors.append(err)))
    assert 0 < len(partial) < 6 and len(errors) == 1
    # In order: 12 good samples, a few before the truncation, two shard errors, nothing, then shard 0 again.
    cfg = DataConfig(urls=str(tmp_path), num_workers=0, sample_shuffle=1, batches_per_epoch=4, shard_shuffle=False)
    _, captions, batches, counts = collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=4))
    assert batches == 4 and counts["num_shard_errors"] == 2 and counts["num_skipped"] == 0
    assert set(captions) == set(shards.captions)


def test_no_usable_samples_fails_clearly(tmp_path):
    with tarfile.open(tmp_path / "empty.tar", "w"):
        pass
    cfg = DataConfig(urls=str(tmp_path / "empty.tar"), num_workers=0, batches_per_epoch=1)
    with pytest.raises(NoSamplesError, match="no readable samples"):
        collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=2))
    with pytest.raises(ValueError, match="not found"):
        ShardedImageTextDataset(DataConfig(urls=str(tmp_path / "missing.tar")), resolution=R, batch_size=2)
    with pytest.raises(ValueError, match="no shards found"):
        ShardedImageTextDataset(DataConfig(urls=[]), resolution=R, batch_size=2)
    with tarfile.open(tmp_path / "corrupt.tar", "w") as tar:  # only corrupt images: an error, not a hang
        for i in range(5):
            add_member(tar, f"{i}.jpg", b"not a jpeg")
            add_member(tar, f"{i}.txt", b"a caption")
    start = time.perf_counter()
    with pytest.raises(NoSamplesError, match="none usable"):
        collect(ShardedImageTextDataset(DataConfig(urls=str(tmp_path / "corrupt.tar"), num_workers=0, sample_shuffle=10,
                                                   max_skip_logs=0), resolution=R, batch_size=2))
    assert time.perf_counter() - start < 5


def test_skip_logging_is_rate_limited(tmp_path, caplog):
    with tarfile.open(tmp_path / "00000.tar", "w") as tar:
        for i in range(30):
            add_member(tar, f"{i:03d}.png", image_bytes(Image.new("RGB", (16, 16))))
            if i % 3 == 0:
                add_member(tar, f"{i:03d}.txt", b"caption")
    cfg = DataConfig(urls=str(tmp_path), num_workers=0, sample_shuffle=1, batches_per_epoch=1, max_skip_logs=3)
    with caplog.at_level(logging.WARNING, logger="stylegan_t.data"):
        _, _, _, counts = collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=10))
    assert counts["num_dropped"] == 18  # 20 without caption, the last 2 after the batch was full
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 3


def test_pipe_and_file_urls(tmp_path):
    shards = write_test_shards(tmp_path, num_shards=2, samples_per_shard=3, include_bad=False)
    urls = ["pipe:exit 3", f"pipe:cat {shards[0]}", f"file://{shards[1]}"]  # a failing command is a shard error
    cfg = DataConfig(urls=urls, num_workers=0, sample_shuffle=1, batches_per_epoch=1, shard_shuffle=False)
    _, captions, _, counts = collect(ShardedImageTextDataset(cfg, resolution=R, batch_size=6))
    assert sorted(captions) == sorted(shards.captions) and counts["num_shard_errors"] == 1


def test_tar_member_grouping(tmp_path):
    with tarfile.open(tmp_path / "x.tar", "w") as tar:
        for name in ("dir/a.jpg", "dir/a.txt", "dir/a.seg.png", "b.txt", "__meta__.json", "noext"):
            add_member(tar, name, name.encode())
    samples = list(read_tar_samples(str(tmp_path / "x.tar"), keep={"jpg", "txt", "seg.png"}))
    assert [s["__key__"] for s in samples] == ["dir/a", "b"]
    assert set(samples[0]) == {"__key__", "__url__", "jpg", "txt", "seg.png"}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_resumes_mid_epoch_in_order(tmp_path, num_workers):
    shards = write_test_shards(tmp_path, num_shards=4, samples_per_shard=8)
    cfg = DataConfig(urls=shards.folder, num_workers=num_workers, sample_shuffle=6, batches_per_epoch=7)

    def loader():
        return ShardLoader(ShardedImageTextDataset(cfg, resolution=R, batch_size=3, seed=5), num_workers=num_workers,
                           epoch_fn=lambda: 2)

    full = loader()
    batches = [b["key"] for b in full]
    assert len(batches) == 7 and full.state_dict()["epoch"] == 2
    first = loader()
    it = iter(first)
    for _ in range(3):
        next(it)
    state = first.state_dict()
    del it
    assert state["batches"] == 3
    resumed = loader()
    resumed.load_state_dict(state)
    rest = [b["key"] for b in resumed]
    assert rest == batches[3:]
    assert resumed.stats.batches == 7 and resumed.stats.as_dict() == full.stats.as_dict()
    assert [b["key"] for b in resumed] == batches  # the next iteration is a whole epoch again
