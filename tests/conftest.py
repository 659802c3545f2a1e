"""Shared test fixtures: the official reference data and small helpers."""
from __future__ import annotations

from pathlib import Path

# Lightning is imported once here, so that its log handler binds to the session's stderr and not to one test's
# captured stream, which is closed after that test (later log lines would print "--- Logging error ---").
import lightning  # noqa: F401
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def official_fixture_dir() -> Path:
    """``$STYLEGAN_T_FIXTURES`` or ``../shared/fixtures/official-32`` relative to the repo root."""
    from helpers import shared_fixture_dir

    return shared_fixture_dir("official-32", "STYLEGAN_T_FIXTURES")


@pytest.fixture(scope="session")
def official_dir() -> Path:
    path = official_fixture_dir()
    if not (path / "official_io.pt").is_file():
        pytest.skip(
            f"official StyleGAN-T reference fixture not found at {path} "
            "(set STYLEGAN_T_FIXTURES to the official-32 folder)"
        )
    return path


@pytest.fixture(scope="session")
def official_io(official_dir: Path) -> dict:
    return torch.load(official_dir / "official_io.pt")


@pytest.fixture(scope="module")
def single_thread():
    """Many tiny ops: one intra-op thread is much faster on a shared, busy CPU (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _deterministic_seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    """``local-dir:`` spec of a tiny random open_clip model saved to disk (text width 32)."""
    from helpers import write_tiny_clip_dir

    return write_tiny_clip_dir(tmp_path_factory.mktemp("tiny_clip"))


#: test modules that train networks, launch processes or drive a browser: the full suite (CI) runs them;
#: `pytest -m "not slow"` is the fast lane to run while editing (README: Tests)
INTEGRATION_MODULES = {
    "test_benchmarks", "test_compile_bf16", "test_convert_snapshot", "test_demo", "test_documented_commands",
    "test_experiment_loop", "test_persistence", "test_pretrain_clip", "test_rehearsal", "test_second_dataset",
    "test_serve_browser", "test_sharded_chain", "test_training", "test_training_distributed", "test_training_faults",
    "test_two_nodes",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.slow)
