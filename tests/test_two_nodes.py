"""Two nodes on one machine, the rehearsal before a cluster job (docs/scaling.md): ``fit`` as 2 nodes x 1 process
over loopback (gloo), one node killed mid-run, both resumed with ``--resume last``; the run ends where an
uninterrupted one does."""
import os
import signal
import socket
import subprocess
import sys
import time

import torch
from shard_helpers import write_test_shards


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nodes(run, shards, *extra):
    """One ``stylegan-t fit`` process per node, as a cluster launcher starts them (rank from the environment)."""
    port = str(free_port())
    argv = [sys.executable, "-m", "stylegan_t.cli.main", "fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={run}",
            "trainer.num_nodes=2", "trainer.devices=1", "trainer.strategy=ddp", "trainer.enable_progress_bar=false",
            "trainer.logger=false", "optim.micro_batch_size=2", "data.batches_per_epoch=2", "run.total_kimg=0.048", *extra]
    procs = []
    for node in range(2):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "NODE_RANK": str(node), "LOCAL_RANK": "0",
               "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    return procs


def wait_all(procs, timeout=300):
    for proc in procs:
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]


def test_two_nodes_killed_and_resumed_end_like_an_uninterrupted_run(tmp_path):
    shards = write_test_shards(tmp_path / "shards", num_shards=4, samples_per_shard=8, include_bad=False)["folder"]
    wait_all(start_nodes(tmp_path / "whole", shards))  # 6 iterations of 8 images, 3 epochs

    run = tmp_path / "killed"
    procs = start_nodes(run, shards)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and time.time() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.1)
    assert last.exists(), "the first checkpoint never appeared"
    procs[1].send_signal(signal.SIGKILL)  # node 1 dies mid-run; the scheduler then ends the job
    time.sleep(0.5)
    procs[0].send_signal(signal.SIGKILL)
    for proc in procs:
        proc.communicate(timeout=60)
    assert torch.load(last, weights_only=True)["stylegan_t"]["images_seen"] < 48  # killed before the end
    wait_all(start_nodes(run, shards, "--resume", "last"))

    whole = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = torch.load(last, weights_only=True)
    assert whole["stylegan_t"]["images_seen"] == resumed["stylegan_t"]["images_seen"] == 48
    assert whole["state_dict"].keys() == resumed["state_dict"].keys()
    different = [k for k in whole["state_dict"] if not torch.equal(whole["state_dict"][k], resumed["state_dict"][k])]
    assert not different, different[:5]
