"""Two CPU processes (gloo): DDP and FSDP2 ranks train on different samples and end with identical weights."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from shard_helpers import write_test_shards

SCRIPT = Path(__file__).with_name("distributed_fit.py")


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_process_training(tmp_path, strategy):
    shards = write_test_shards(tmp_path / "shards", num_shards=8, samples_per_shard=6, include_bad=False)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), shards["folder"], strategy],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    captions = [set(r["captions"]) for r in ranks]
    assert len(ranks[0]["captions"]) == len(ranks[1]["captions"]) == 8
    assert not captions[0] & captions[1]  # each rank trains on different samples
    assert ranks[0]["images_seen"] == ranks[1]["images_seen"] == 16  # counted over both ranks
    assert ranks[0]["weights"].keys() == ranks[1]["weights"].keys() and len(ranks[0]["weights"]) > 100
    assert ranks[0]["weights"] == ranks[1]["weights"]  # G, D and EMA parameters identical (gathered under FSDP2)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert last.exists() and (last.is_dir() if strategy == "fsdp" else last.is_file())
