"""The benchmark commands run end to end in their CPU (CI-sized) form and print / write their tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def test_gpu_sh_dry_run_writes_the_performance_table(tmp_path):
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env=ENV,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "== 1. paper-recipe rehearsal" in proc.stdout and "rehearsal" in proc.stdout
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    training = [r for r in rows if "s_per_kimg" in r]
    assert [r["label"].split()[-1] for r in training] == ["ddp", "fsdp"]
    assert all(r["images_per_s"] > 0 and r["precision"] == "bf16-mixed" and r["peak_mib"] > 0 for r in training)
    latency = [r for r in rows if "latency_ms" in r]
    assert [r["batch"] for r in latency] == [1, 2] and all(r["latency_ms"] > 0 for r in latency)
    memory = [r for r in rows if "largest_micro_batch" in r]
    assert [(r["recipe"], r["micro_batch"], r["largest_micro_batch"]) for r in memory] == [("tiny-cpu", 4, 8)]
    table = (tmp_path / "performance-table.md").read_text()
    assert "| tiny-cpu ddp | bf16-mixed |" in table and "| tiny 32 px | 1 | bf16 |" in table
    assert "| tiny-cpu | 4 | n/a | 8+ |" in table


def test_gpu_sh_rejects_unknown_arguments(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--bogus"], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2 and "unknown argument --bogus" in proc.stderr


@pytest.mark.slow
def test_efficiency_report_prints_every_row(tmp_path):
    args = [
        "--preset", "tiny", "--resolution", "16", "--batch", "2", "--feature-network", "conv-tiny", "--text-dim", "32",
        "--repeats", "1", "--ab-repeats", "1", "--matmul-size", "128", "--data-images", "4", "--jpeg-size", "64", "--compile",
        "--compile-backend", "eager",
    ]
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "efficiency.py"), *args],
                          capture_output=True, text=True, timeout=600, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for row in ("matmul peak", "g_forward ", "g_forward_backward", "d_forward_backward", "iteration", "data: raw PIL JPEG",
                "G inference   fp32", "G inference   bf16", "images vs baseline fp32"):
        assert row in out, row
    lines = out.splitlines()
    assert out.count("% peak") == 1 and len([line for line in lines if line.startswith("iteration" + " " * 10)]) == 2
    compiled = [line.split() for line in lines if line.startswith("iteration compiled")]
    assert len(compiled) == 2 and all(float(row[4]) > 0 for row in compiled)  # img/s of fp32 and bf16, compiled


def test_recipe_ab_alternates_the_baseline_d_step_and_prints_ratios(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "recipe_ab.py"), "tiny-cpu", "loss.mismatch_weight=1", "--repeats", "1",
         "--batches", "1", "--warmup", "1", "--variants", "before,today,batch8", "--work-dir", str(tmp_path),
         "--variant", "batch8=optim.batch_size=8;optim.micro_batch_size=8"],
        capture_output=True, text=True, timeout=600, env=ENV,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    names = (["before"], ["today"], ["batch8"])
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.split()[:1] in names}
    assert set(rows) == {"before", "today", "batch8"} and rows["before"][-2] == "1.00x"
    assert rows["today"][-2].endswith("x") and rows["batch8"][-2].endswith("x")
    # a defined variant's overrides reach the recipe: an invalid one ends in the recipe's own one-line error
    broken = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recipe_ab.py"), "tiny-cpu", "--variants", "b",
                             "--variant", "b=optim.batch_size=-3", "--work-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, env=ENV)
    assert broken.returncode == 1
    assert broken.stderr.strip().splitlines() == ["recipe_ab.py: optim.batch_size must be an integer > 0, got -3"]
    bad = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recipe_ab.py"), "tiny-cpu", "--variants", "fast"],
                         capture_output=True, text=True, env=ENV)
    assert bad.returncode == 2 and "unknown variant(s) fast" in bad.stderr
