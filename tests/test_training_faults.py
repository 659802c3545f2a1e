"""Faults during training (issue 12 item 4): atomic checkpoints, damaged ``last.ckpt`` on resume, non-finite
losses, shard errors, ``metrics.csv`` across a resume, weights-only loading. Tiny CPU fits of 1-2 steps."""
from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import lightning as L
import pytest
import torch
from shard_helpers import write_test_shards

from stylegan_t.errors import CheckpointError
from stylegan_t.training.callbacks import NonFiniteLossMonitor
from stylegan_t.training.checkpoint_io import AtomicCheckpointIO, atomic_torch_save, resolve_resume
from stylegan_t.training.fit import fit
from stylegan_t.training.recipe import load_recipe

#: 2 images per step, one step per epoch: every epoch writes epochNNNN.ckpt and last.ckpt
STEP = ("optim.batch_size=2", "optim.micro_batch_size=2", "data.batches_per_epoch=1", "run.sample_every_kimg=1")


def tiny_recipe(run_dir: Path, shards: str, steps: int, *extra: str):
    overrides = [f"data.urls={shards}", f"run.dir={run_dir}", "trainer.enable_progress_bar=false", *STEP,
                 f"run.total_kimg={steps * 2 / 1000}"]
    return load_recipe("tiny-cpu", overrides + list(extra))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_test_shards(tmp_path_factory.mktemp("shards"), num_shards=2, samples_per_shard=4)["folder"]


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    yield


def images_seen(path: Path) -> int:
    return torch.load(path, weights_only=True)["stylegan_t"]["images_seen"]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --- atomic writes ---------------------------------------------------------------------------------------

def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"v": torch.arange(3)}, path)

    def killed_mid_write(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # what a kill looks like from inside the process

    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"v": torch.zeros(3)}, path, save=killed_mid_write)
    assert torch.equal(torch.load(path, weights_only=True)["v"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind


def test_fit_writes_through_the_atomic_plugin(tmp_path, shards, monkeypatch):
    run = tmp_path / "run"
    _, trainer = fit(tiny_recipe(run, shards, 1, "trainer.logger=false"))
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    last = run / "checkpoints" / "last.ckpt"
    assert images_seen(last) == 2

    def dies_mid_write(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dies_mid_write)  # every checkpoint write of the resumed run fails
    with pytest.raises(OSError, match="No space left"):
        fit(tiny_recipe(run, shards, 2, "trainer.logger=false"), resume="last")
    monkeypatch.undo()
    assert images_seen(last) == 2  # the previous last.ckpt is intact
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]


# --- resuming from damaged or hostile files ---------------------------------------------------------------

def test_damaged_last_falls_back_to_newest_intact_epoch_checkpoint(tmp_path, shards, caplog):
    run = tmp_path / "run"
    fit(tiny_recipe(run, shards, 2, "trainer.logger=false"))
    ckpts = run / "checkpoints"
    assert {p.name for p in ckpts.iterdir()} == {"epoch0000.ckpt", "epoch0001.ckpt", "last.ckpt"}
    truncate(ckpts / "last.ckpt")
    truncate(ckpts / "epoch0001.ckpt")  # the newest epoch is damaged too: epoch0000 is the newest intact one
    with caplog.at_level(logging.WARNING, logger="stylegan_t"):
        assert resolve_resume("last", run) == ckpts / "epoch0000.ckpt"
    warning = caplog.text
    assert "last.ckpt" in warning and "damaged" in warning and "epoch0000.ckpt" in warning
    model, _ = fit(tiny_recipe(run, shards, 3, "trainer.logger=false"), resume="last")
    assert model.images_seen == 6  # 2 from epoch0000 + 2 steps of 2
    assert images_seen(ckpts / "last.ckpt") == 6  # rewritten, readable again


def test_damaged_checkpoints_are_refused_with_their_names(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "last.ckpt").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CheckpointError, match=r"last\.ckpt.*damaged.*no intact epochNNNN\.ckpt"):
        resolve_resume("last", tmp_path / "run")
    torch.save({"state_dict": {"w": torch.zeros(1)}}, ckpts / "epoch0003.ckpt")  # readable but foreign
    with pytest.raises(CheckpointError, match="no intact"):
        resolve_resume("last", tmp_path / "run")
    with pytest.raises(CheckpointError, match=r"epoch0003\.ckpt' is not a stylegan_t training checkpoint"):
        resolve_resume(ckpts / "epoch0003.ckpt", tmp_path / "run")
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_resume("last", tmp_path / "elsewhere")


class _Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_plugin_loads_weights_only_even_when_torch_is_told_otherwise(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    torch.save({"stylegan_t": {"kind": "stylegan_t.training.StyleGANT"}, "x": _Hostile(marker)}, tmp_path / "h.ckpt")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(CheckpointError, match="h.ckpt"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "h.ckpt", weights_only=False)
    assert not marker.exists()


# --- non-finite losses, shard errors, metrics.csv -------------------------------------------------------------

class _PoisonDiscriminator(L.Callback):
    """From the second step on, the discriminator heads hold NaN: every later loss is NaN."""

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if module.images_seen >= 2:
            with torch.no_grad():
                for p in module.discriminator.heads.parameters():
                    p.fill_(float("nan"))


def test_non_finite_loss_is_warned_with_its_step_and_counted(tmp_path, shards, caplog):
    with caplog.at_level(logging.WARNING, logger="stylegan_t"):
        _, trainer = fit(tiny_recipe(tmp_path / "run", shards, 3, "trainer.logger=false"),
                         extra_callbacks=[_PoisonDiscriminator()])
    monitor = next(c for c in trainer.callbacks if isinstance(c, NonFiniteLossMonitor))
    assert monitor.count == 2  # steps 2 and 3; step 1 was finite
    warnings = [r.getMessage() for r in caplog.records if "non-finite loss" in r.getMessage()]
    assert len(warnings) == 2 and "global step" in warnings[0] and "loss_D=nan" in warnings[0]
    assert "2 non-finite step(s) so far" in warnings[1]
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert any(state == {"count": 2} for key, state in last["callbacks"].items() if "NonFiniteLossMonitor" in key)


def test_shard_errors_are_logged_and_metrics_csv_survives_resume(tmp_path, shards):
    data = tmp_path / "data"
    data.mkdir()
    for p in Path(shards).glob("*.tar"):
        (data / p.name).write_bytes(p.read_bytes())
    (data / "00009.tar").write_bytes(b"not a tar file" * 64)
    run = tmp_path / "run"
    _, trainer = fit(tiny_recipe(run, str(data), 1))
    assert trainer.callback_metrics["data_shard_errors"] >= 1
    metrics = run / "logs" / "metrics.csv"
    before = list(csv.DictReader(metrics.open()))
    assert len(before) == 1 and float(before[0]["data_shard_errors"]) >= 1
    assert "nonfinite_steps" in before[0]
    fit(tiny_recipe(run, str(data), 2), resume="last")
    after = list(csv.DictReader(metrics.open()))
    assert len(after) == 2 and after[0] == before[0]  # the first run's row is kept, the resumed step appended
    assert float(after[1]["kimg"]) == pytest.approx(0.004)


def test_atomic_write_gives_the_usual_file_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_torch_save({"v": torch.arange(3)}, tmp_path / "last.ckpt")
    finally:
        os.umask(umask)
    assert (tmp_path / "last.ckpt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: others may read it


def test_release_process_group_ends_a_finished_runs_group(tmp_path):
    """The CLI's last step after a multi-process fit: the process group is destroyed (no-op without one)."""
    import torch.distributed as dist

    from stylegan_t.training.fit import release_process_group

    release_process_group()  # nothing to release
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    assert dist.is_initialized()
    release_process_group()
    assert not dist.is_initialized()
