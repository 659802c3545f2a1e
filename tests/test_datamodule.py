"""The Lightning DataModules: rank/world from the trainer, epochs, stats, resume, image folders, dict configs."""
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from PIL import Image
from shard_helpers import write_test_shards

from stylegan_t.data import DataConfig
from stylegan_t.training.datamodule import FolderDataModule, WebDataSetDataModule

R = 16


def epoch_keys(dm):
    return [list(b["key"]) for b in dm.train_dataloader()]


def test_rank_and_world_come_from_the_trainer(tmp_path):
    shards = write_test_shards(tmp_path, num_shards=8, samples_per_shard=4, include_bad=False)
    cfg = DataConfig(urls=shards.pattern, num_workers=0, sample_shuffle=4, batches_per_epoch=4)
    seen = []
    for rank in range(2):
        dm = WebDataSetDataModule(cfg, resolution=R, batch_size=4, seed=1)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2, current_epoch=0)
        batches = epoch_keys(dm)
        assert len(batches) == 4 and all(len(b) == 4 for b in batches)
        seen.append({k for b in batches for k in b})
        assert dm.dataset.rank == rank and dm.dataset.world_size == 2
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 32
    alone = WebDataSetDataModule(cfg, resolution=R, batch_size=4)  # no trainer: rank 0 of 1
    alone.train_dataloader()
    assert (alone.dataset.rank, alone.dataset.world_size) == (0, 1)


def test_epoch_read_when_iteration_starts_and_stats(tmp_path):
    shards = write_test_shards(tmp_path, num_shards=4, samples_per_shard=8)
    cfg = {"urls": shards.folder, "num_workers": 2, "sample_shuffle": 1, "batches_per_epoch": 7}  # plain dict works
    dm = WebDataSetDataModule(cfg, resolution=R, batch_size=5)
    dm.trainer = SimpleNamespace(global_rank=0, world_size=1, current_epoch=0)
    loader = dm.train_dataloader()
    first = [b["key"] for b in loader]
    assert dm.stats.as_dict() == {"batches": 7, "samples": 35, "skipped": 2, "dropped": 1, "shard_errors": 0}
    dm.trainer.current_epoch = 1  # the same loader object, next epoch: reshuffled
    second = [b["key"] for b in loader]
    assert second != first and sorted(sum(second, [])) == sorted(sum(first, []))
    assert dm.stats.batches == 14 and dm.stats.skipped == 4


class Recorder(L.LightningModule):
    """A trivial model that records the keys of every batch it trains on."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 1)
        self.keys = []

    def training_step(self, batch, batch_idx):
        assert batch["image"].shape[1:] == (3, R, R) and batch["image"].dtype == torch.float32
        self.keys.append((self.current_epoch, tuple(batch["key"])))
        return self.layer(batch["image"].mean(dim=(2, 3))).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _trainer(tmp_path, **kw):
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                     default_root_dir=str(tmp_path), **kw)


def test_fit_epochs_and_mid_epoch_resume(tmp_path):
    shards = write_test_shards(tmp_path / "shards", num_shards=4, samples_per_shard=8)
    cfg = DataConfig(urls=shards.folder, num_workers=0, sample_shuffle=4, batches_per_epoch=4)

    full = Recorder()
    dm = WebDataSetDataModule(cfg, resolution=R, batch_size=3, seed=7)
    _trainer(tmp_path / "full", max_epochs=2).fit(full, datamodule=dm)
    assert [e for e, _ in full.keys] == [0] * 4 + [1] * 4
    assert [k for e, k in full.keys if e == 0] != [k for e, k in full.keys if e == 1]
    assert dm.stats.batches == 8

    # Stop after 6 batches (mid epoch 1), checkpoint, resume: the remaining batches are the same ones.
    from lightning.pytorch.callbacks import ModelCheckpoint

    by_step = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}")
    by_epoch = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_epochs=1, save_top_k=-1, filename="{epoch}",
                               save_on_train_epoch_end=True)
    part = Recorder()
    _trainer(tmp_path / "part", max_epochs=2, max_steps=6, callbacks=[by_step, by_epoch]).fit(
        part, datamodule=WebDataSetDataModule(cfg, resolution=R, batch_size=3, seed=7))
    assert part.keys == full.keys[:6]
    # mid epoch 0, last batch of epoch 0 (batch-end and epoch-end checkpoints), mid epoch 1
    for name, step in [("step=3", 3), ("step=4", 4), ("epoch=0", 4), ("step=6", 6)]:
        resumed = Recorder()
        dm2 = WebDataSetDataModule(cfg, resolution=R, batch_size=3, seed=7)
        _trainer(tmp_path / f"resumed{name}", max_epochs=2).fit(resumed, datamodule=dm2, ckpt_path=str(tmp_path / "ckpt" / f"{name}.ckpt"))
        assert resumed.keys == full.keys[step:]
        assert dm2.stats.as_dict() == dm.stats.as_dict()  # counts restored from the checkpoint


def _image_folder(root, n=6, uncaptioned=1):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n + uncaptioned):
        Image.new("RGB", (20 + i, 20), (40 * i % 255, 0, 0)).save(root / f"img{i:02d}.png")
        if i < n:
            (root / f"img{i:02d}.txt").write_text(f"caption {i}")
    (root / "broken.jpg").write_bytes(b"not an image")
    (root / "broken.txt").write_text("a broken image")
    return root


def test_written_captioned_images_read_back_in_order(tmp_path):
    from stylegan_t.data.folder import find_captioned_images, write_captioned_images

    images = [Image.new("RGB", (8, 8), (10 * i, 0, 0)) for i in range(3)]
    folder = write_captioned_images(tmp_path / "new" / "imgs", zip(images, ["a red dot", "two", "three"]))
    pairs, missing = find_captioned_images(folder)
    assert [(p.name, c) for p, c in pairs] == [("000000.png", "a red dot"), ("000001.png", "two"), ("000002.png", "three")]
    assert not missing and Image.open(pairs[1][0]).getpixel((0, 0)) == (10, 0, 0)


def test_folder_datamodule_split_and_counts(tmp_path):
    root = _image_folder(tmp_path / "imgs")  # 6 good + 1 broken with captions, 1 without caption
    seen = []
    for rank in range(2):
        dm = FolderDataModule(str(root), resolution=R, batch_size=3, seed=0)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2, current_epoch=0)
        batches = list(dm.train_dataloader())
        assert len(batches) == 1 and batches[0]["image"].shape == (3, 3, R, R)
        seen.append(set(batches[0]["key"]))
        assert dm.stats.dropped == 1  # the image without caption
    assert not seen[0] & seen[1]
    # WebDataSetDataModule hands a folder of images (no .tar) to the folder dataset.
    dm = WebDataSetDataModule(DataConfig(urls=str(root), num_workers=0), resolution=R, batch_size=7)
    batch = next(iter(dm.train_dataloader()))
    assert len(batch["caption"]) == 7 and batch["num_skipped"] == 1  # the broken image replaced and counted
    assert set(batch["caption"]) <= {f"caption {i}" for i in range(6)}


def test_folder_under_lightning_reshuffles_per_epoch(tmp_path):
    root = _image_folder(tmp_path / "imgs", n=8)
    model = Recorder()
    dm = WebDataSetDataModule(DataConfig(urls=str(root), num_workers=0), resolution=R, batch_size=4)
    _trainer(tmp_path / "run", max_epochs=2).fit(model, datamodule=dm)
    epochs = [[k for e, k in model.keys if e == epoch] for epoch in (0, 1)]
    assert len(epochs[0]) == len(epochs[1]) == 2 and epochs[0] != epochs[1]  # 9 captioned images: 2 batches of 4
    assert dm.stats.batches == 4 and dm.stats.dropped == 1


def test_folder_too_small_for_the_batch(tmp_path):
    root = _image_folder(tmp_path / "imgs", n=2, uncaptioned=0)
    with pytest.raises(ValueError, match="cannot fill one batch"):
        FolderDataModule(str(root), resolution=R, batch_size=4).train_dataloader()


def test_folder_counts_are_saved_and_restored(tmp_path):
    root = _image_folder(tmp_path / "imgs")  # 6 good + 1 broken with captions, 1 without caption
    dm = WebDataSetDataModule(DataConfig(urls=str(root), num_workers=0), resolution=R, batch_size=3)
    for _ in dm.train_dataloader():
        pass
    assert (dm.stats.batches, dm.stats.dropped) == (2, 1) and dm.stats.skipped >= 1
    resumed = WebDataSetDataModule(DataConfig(urls=str(root), num_workers=0), resolution=R, batch_size=3)
    resumed.load_state_dict(dm.state_dict())
    resumed.train_dataloader()
    assert resumed.stats.as_dict() == dm.stats.as_dict()  # the caption-less image still counted once
