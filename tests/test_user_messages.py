"""Every wrong invocation a newcomer is likely to try ends in one short line on stderr, exit status 2, that names
the problem and the next step; no output folder is made by a command that fails; files written for users share
one mode; progress in a log file is plain lines; Lightning's known noise does not reach the user.

Each case replays a mistake seen in practice and checks: exit status 2, exactly one stderr line, at most
``MAX_CHARS`` characters (the temporary folder's path not counted), and a keyword of the right advice.
"""
from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from stylegan_t.cli.main import main
from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig

#: "under about 300 characters": short enough to read at a glance
MAX_CHARS = 300


@pytest.fixture(scope="module")
def tiny(tiny_clip, tmp_path_factory) -> dict[str, Path]:
    """A tiny generator saved as export, pretrained folder and (hand-written) training checkpoint."""
    from stylegan_t.export import export_generator

    root = tmp_path_factory.mktemp("messages")
    G = Generator(GeneratorConfig(img_resolution=16, preset="tiny", text_encoder=TextEncoderConfig(model=tiny_clip))).eval()
    export_generator(G, root / "g.safetensors")
    G.save_pretrained(root / "pretrained")
    (root / "notes.txt").write_text("my notes\n")
    return {"root": root, "export": root / "g.safetensors", "pretrained": root / "pretrained", "notes": root / "notes.txt"}


def one_line_error(argv: list[str], capsys, *keywords: str, root: Path | None = None) -> str:
    """``main(argv)``: exit 2, one stderr line naming every keyword, short; returns the line."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, f"exit status {rc}, stderr: {err}"
    assert len(lines) == 1, f"expected one line, got: {err}"
    line = lines[0]
    assert "Traceback" not in err and line.startswith("stylegan-t ")
    shown = line.replace(str(root), "") if root else line
    assert len(shown) <= MAX_CHARS, f"{len(shown)} characters: {line}"
    for word in keywords:
        assert word in line, f"{word!r} not in: {line}"
    return line


# --- wrong advice, replayed ------------------------------------------------------------------------------

def test_fit_before_pretrain_clip_says_pretrain_clip(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # own-data-cpu reads runs/own/clip: not there yet
    line = one_line_error(["fit", "own-data-cpu"], capsys, "pretrain-clip", "runs/own/clip")
    assert "ViT-L" not in line and "download" not in line
    assert not (tmp_path / "runs").exists()


def test_eval_local_dir_clip_points_to_the_folder(tiny, capsys, tmp_path):
    line = one_line_error(["eval", tiny["export"], "--real", tmp_path, "--metrics", "clip_score", "--device", "cpu",
                           "--clip-model", f"local-dir:{tmp_path / 'no_clip'}", "--out", tmp_path / "ev"],
                          capsys, "--clip-model", "pretrain-clip", root=tmp_path)
    assert "--clip-pretrained FILE)" not in line  # the flag for a weights file, not for a folder
    assert not (tmp_path / "ev").exists()


@pytest.mark.parametrize("what", ["notes", "export", "pretrained"])
def test_resume_names_what_it_takes(what, tiny, capsys, tmp_path):
    from shard_helpers import write_test_shards

    shards = write_test_shards(tmp_path / "shards", num_shards=1, samples_per_shard=4)["folder"]
    line = one_line_error(["fit", "tiny-cpu", "--resume", tiny[what], f"run.dir={tmp_path / 'run'}",
                           f"data.urls={shards}"], capsys, "--resume", "stylegan-t fit", root=tiny["root"])
    for internal in ("mmap", "_use_new_zipfile_serialization", "weights_only", "save_pretrained", "torch.load"):
        assert internal not in line
    assert not (tmp_path / "run").exists()


def test_generate_with_another_text_tower_fails_before_building_it(tiny, capsys, tmp_path, monkeypatch):
    import stylegan_t.persistence.generator_files as files

    def no_build(*args, **kwargs):
        raise AssertionError("a generator was built for a text tower that cannot replace the stored one")

    monkeypatch.setattr(files, "_build", no_build)
    one_line_error(["generate", tiny["export"], "--prompt", "a", "--text-encoder", "ViT-L-14-quickgelu",
                    "--outdir", tmp_path / "out", "--device", "cpu"], capsys, "local-dir:FOLDER", "--text-encoder",
                   root=tiny["root"])
    assert not (tmp_path / "out").exists()


def test_misspelt_override_without_omegaconf_internals(capsys, tmp_path):
    line = one_line_error(["demo", "trainer.devcies=2", "--out", tmp_path / "demo"], capsys, "trainer.devices")
    for internal in ("full_key", "reference_type", "object_type"):
        assert internal not in line
    assert not (tmp_path / "demo").exists()


def test_dashed_override_gets_the_hint(capsys):
    one_line_error(["config", "lite-64", "--trainer.devices=2"], capsys, "no dashes", "trainer.devices=2")


# --- hostile and foreign files ---------------------------------------------------------------------------

def _export_with(tmp_path: Path, source: Path, name: str, **changes: str) -> Path:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(source), "pt") as f:
        meta, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}
    path = tmp_path / name
    save_file(tensors, str(path), metadata={**meta, **changes})
    return path


@pytest.mark.parametrize("changes", [
    {"aliases": json.dumps({"mapping.x": "no.such.tensor"})},
    {"format_version": "two"},
    {"frozen": "[1, 2]"},
    {"aliases": "[1]"},
])
def test_export_with_malformed_metadata(changes, tiny, capsys, tmp_path):
    bad = _export_with(tmp_path, tiny["export"], "bad.safetensors", **changes)
    one_line_error(["generate", bad, "--prompt", "a", "--outdir", tmp_path / "out", "--device", "cpu"],
                   capsys, "damaged metadata", "export", root=tmp_path)


def test_load_from_checkpoint_on_a_foreign_file(tmp_path):
    from stylegan_t.errors import CheckpointError
    from stylegan_t.training import StyleGANT

    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 3}, tmp_path / "foreign.ckpt")
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": {"lr": 1}}, tmp_path / "other.ckpt")
    (tmp_path / "notes.txt").write_text("notes")
    for name in ("foreign.ckpt", "other.ckpt", "notes.txt", "missing.ckpt"):
        with pytest.raises(CheckpointError, match="stylegan-t fit"):
            StyleGANT.load_from_checkpoint(tmp_path / name)


def _shard(path: Path, samples: int = 3) -> bytes:
    from PIL import Image

    with tarfile.open(path, "w") as tar:
        for i in range(samples):
            png = io.BytesIO()
            Image.new("RGB", (16, 16), (200, 30 * i, 0)).save(png, format="PNG")
            for ext, data in (("png", png.getvalue()), ("txt", f"caption {i}".encode())):
                info = tarfile.TarInfo(f"{i:06d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def test_a_shard_cut_short_is_damaged_not_caption_less(capsys, tmp_path):
    data = _shard(tmp_path / "full.tar")
    with tarfile.open(tmp_path / "full.tar") as tar:
        cut = next(m for m in tar.getmembers() if m.name == "000002.txt").offset  # at a member boundary
    (tmp_path / "cut.tar").write_bytes(data[:cut])
    from stylegan_t.data.shard_check import check_shard

    report = check_shard(str(tmp_path / "cut.tar"))
    assert report.error and "cut short" in report.error and report.no_caption == 0
    assert check_shard(str(tmp_path / "full.tar")).error is None
    one_line_error(["check-shards", tmp_path / "cut.tar"], capsys, "damaged", "make-shards", root=tmp_path)
    (tmp_path / "junk.tar").write_text("not a tar")
    one_line_error(["check-shards", tmp_path / "junk.tar"], capsys, "damaged", root=tmp_path)


# --- exit codes off the rule -----------------------------------------------------------------------------

def test_serve_bad_port(tiny, capsys):
    one_line_error(["serve", tiny["export"], "--port", "99999"], capsys, "--port", "65535")


def test_make_shards_on_an_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    one_line_error(["make-shards", tmp_path / "empty", tmp_path / "shards"], capsys, "cat.txt", root=tmp_path)
    assert not (tmp_path / "shards").exists()


def test_generate_makes_no_folder_before_failing(capsys, tmp_path):
    one_line_error(["generate", tmp_path / "missing.ckpt", "--prompt", "a", "--outdir", tmp_path / "out"],
                   capsys, "not found", "stylegan-t fit", root=tmp_path)
    assert not (tmp_path / "out").exists()


# --- one file mode ---------------------------------------------------------------------------------------

def test_files_written_for_users_share_one_mode(tiny_clip, tmp_path):
    from stylegan_t.training.checkpoint_io import atomic_torch_save
    from stylegan_t.utils.atomic import user_file_mode

    G = Generator(GeneratorConfig(img_resolution=16, preset="tiny", text_encoder=TextEncoderConfig(model=tiny_clip)))
    G.save_pretrained(tmp_path / "pretrained")
    from stylegan_t.export import export_generator

    export_generator(G, tmp_path / "g.safetensors")
    atomic_torch_save({"x": torch.zeros(1)}, tmp_path / "last.ckpt")
    (tmp_path / "plain.txt").write_text("written with open()")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [*tmp_path.rglob("*")] if p.is_file()}
    assert set(modes.values()) == {user_file_mode()}, modes


# --- progress and noise ----------------------------------------------------------------------------------

def test_progress_in_a_log_is_plain_lines(monkeypatch):
    from stylegan_t.utils import progress as progress_module

    clock = iter(range(0, 10_000, 7))  # 7 s per update
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    log = io.StringIO()
    with progress_module.progress(100, desc="fit", unit="img", file=log) as bar:
        for _ in range(100):
            bar.update(1)
            bar.set_postfix(loss="1.0")
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 5 <= len(lines) <= 30 and lines[-1].startswith("fit: 100/100 img (100%)"), lines


def test_terminal_gets_a_bar(monkeypatch):
    from tqdm import tqdm

    from stylegan_t.utils.progress import progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    bar = progress(3, desc="x", file=Tty())
    assert isinstance(bar, tqdm)
    bar.close()


def test_known_noise_is_silenced_and_nothing_else():
    import warnings

    from stylegan_t.training.known_noise import without_known_noise

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with without_known_noise():
            warnings.warn("Found 108 module(s) in eval mode at the start of training. This may lead to ...")
            warnings.warn("Your `IterableDataset` has `__len__` defined. In combination with ...")
            warnings.warn("something the user should see")
    assert [str(w.message) for w in seen] == ["something the user should see"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_umask_is_respected(tmp_path):
    from stylegan_t.utils.atomic import atomic_path, user_file_mode

    old = os.umask(0o077)
    try:
        with atomic_path(tmp_path / "t") as tmp:
            tmp.write_bytes(b"x")
        assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == user_file_mode() == 0o600
        assert [p.name for p in tmp_path.iterdir()] == ["t"]  # no temporary file left behind
    finally:
        os.umask(old)


def test_playground_default_prompt(tiny, tmp_path):
    from stylegan_t.persistence.formats import CHECKPOINT_KIND
    from stylegan_t.serve.engine import FALLBACK_PROMPT, default_prompt

    run = {"sample_prompts": ["a red circle", "a green square"]}
    torch.save({"stylegan_t": {"kind": CHECKPOINT_KIND}, "hyper_parameters": {"recipe": {"run": run}}}, tmp_path / "a.ckpt")
    assert default_prompt(tmp_path / "a.ckpt") == "a red circle"
    assert default_prompt(tiny["export"]) == FALLBACK_PROMPT


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    from stylegan_t.utils.atomic import atomic_path

    (tmp_path / "f").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "f") as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert (tmp_path / "f").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f"]


def test_checkpoint_folder_warning_only_silenced_when_resuming():
    import warnings

    from stylegan_t.training.known_noise import without_known_noise

    message = "Checkpoint directory /x/checkpoints exists and is not empty."
    for resuming, expected in ((True, 0), (False, 1)):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with without_known_noise(resuming=resuming):
                warnings.warn(message)
        assert len(seen) == expected
