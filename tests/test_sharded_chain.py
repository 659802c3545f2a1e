"""Paper-scale joints on tiny configs: a stage trained under 2-process FSDP2 or DDP (gloo) feeds the next stage's
``model.init_from`` with the lower resolutions frozen; sharded folders are read on one process by every reader and
consolidated into one file; a run that already reached ``run.total_kimg`` trains nothing."""
import os
import subprocess
import sys

import pytest
import torch
from shard_helpers import write_test_shards

from stylegan_t.cli.main import main

QUIET = ["trainer.enable_progress_bar=false", "trainer.logger=false"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_test_shards(tmp_path_factory.mktemp("shards"), num_shards=4, samples_per_shard=6, include_bad=False)["folder"]


@pytest.mark.parametrize("strategy", ["fsdp", "ddp"])
def test_a_two_process_stage_feeds_the_next_stage(strategy, shards, tmp_path, capsys):
    stage_a = tmp_path / "a"
    argv = [sys.executable, "-m", "stylegan_t.cli.main", "fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={stage_a}", *QUIET,
            "trainer.devices=2", f"trainer.strategy={strategy}", "optim.micro_batch_size=2", "run.total_kimg=0.016"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = stage_a / "checkpoints" / "last.ckpt"
    assert last.is_dir() == (strategy == "fsdp")

    # stage B: 16 -> 128 px from stage A, blocks up to 64 frozen (the paper's progressive growing)
    stage_b = tmp_path / "b"
    status = main(["fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={stage_b}", *QUIET, "model.generator.img_resolution=128",
                   "model.train_mode=freeze64", f"model.init_from={last}", "run.total_kimg=0.008",
                   "model.discriminator.feature_network.input_size=32"])
    assert status == 0, capsys.readouterr().err
    from stylegan_t.persistence import read_training_checkpoint

    a, b = read_training_checkpoint(last)["state_dict"], read_training_checkpoint(stage_b / "checkpoints" / "last.ckpt")["state_dict"]
    key = "generator.synthesis.b16.convs.0.weight"
    assert torch.equal(a[key], b[key])  # frozen, and read from A's (sharded) checkpoint
    assert "generator.synthesis.b128.torgb.weight" in b

    # every reader takes stage A's checkpoint as it is; the folder consolidates into one file
    export = tmp_path / "a.safetensors"
    assert main(["export", str(last), str(export)]) == 0
    out = tmp_path / "out"
    assert main(["generate", str(stage_b / "checkpoints" / "last.ckpt"), "--prompt", "a red square", "--seeds", "0-1",
                 "--outdir", str(out), "--device", "cpu"]) == 0
    assert len(list(out.glob("*.png"))) == 2
    if strategy == "fsdp":
        one = tmp_path / "a.ckpt"
        assert main(["consolidate", str(last), str(one)]) == 0
        flat = torch.load(one, weights_only=True)
        assert "optimizer_states" not in flat and flat["stylegan_t"]["images_seen"] == 16
        assert flat["state_dict"].keys() == a.keys() and all(torch.equal(flat["state_dict"][k], a[k]) for k in a)
        from stylegan_t.training.loading import load_module

        module = load_module(last)
        assert torch.equal(module.state_dict()[key], a[key])
    else:
        assert main(["consolidate", str(last), str(tmp_path / "x.ckpt")]) == 2
        assert "needs no consolidation" in capsys.readouterr().err


def test_resuming_a_finished_run_trains_nothing(shards, tmp_path, caplog):
    run = tmp_path / "run"
    common = ["fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={run}", *QUIET, "run.total_kimg=0.016"]
    assert main(common) == 0
    last = run / "checkpoints" / "last.ckpt"
    before = last.stat().st_mtime_ns, torch.load(last, weights_only=True)["stylegan_t"]["images_seen"]
    assert main([*common, "--resume", "last"]) == 0
    assert (last.stat().st_mtime_ns, torch.load(last, weights_only=True)["stylegan_t"]["images_seen"]) == before == (before[0], 16)
    assert "nothing to train" in caplog.text and "run.total_kimg" in caplog.text


def test_a_hostile_sharded_folder_runs_no_code(tmp_path, capsys):
    class Hostile:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    folder = tmp_path / "last.ckpt"
    folder.mkdir()
    torch.save({"stylegan_t": {"kind": "stylegan_t.training.StyleGANT", "images_seen": 8}, "hyper_parameters": {}}, folder / "meta.pt")
    import pickle

    (folder / ".metadata").write_bytes(pickle.dumps(Hostile()))
    (tmp_path / "000.tar").write_bytes(b"")
    resume = ["fit", "tiny-cpu", f"data.urls={tmp_path / '000.tar'}", f"run.dir={tmp_path / 'run'}", "--resume", str(folder)]
    for argv in (["export", str(folder), str(tmp_path / "g.safetensors")], ["consolidate", str(folder), str(tmp_path / "one.ckpt")],
                 resume):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not part of a checkpoint index" in err[0], err
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "one.ckpt").exists() and not (tmp_path / "run").exists()
