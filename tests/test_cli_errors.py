"""Every ``stylegan-t`` command turns user errors into one line on stderr and exit status 2, no traceback;
``--debug`` / ``STYLEGAN_T_DEBUG=1`` shows the traceback. Arguments and output folders
are checked before any model is loaded. Most cases run in-process through ``main([...])``, a few through a
real ``python -m stylegan_t.cli.main`` subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from shard_helpers import write_test_shards

from stylegan_t.cli.main import main
from stylegan_t.export import export_generator
from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- fixtures --------------------------------------------------------------------------------------------

class Hostile:
    """Unpickling this runs ``touch MARKER``: a checkpoint that would execute code if loaded with pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def write_training_checkpoint(generator: Generator, path: Path) -> Path:
    state = {f"generator_ema.module.{k}": v for k, v in generator.state_dict().items()}
    torch.save({
        "state_dict": state,
        "hyper_parameters": {"recipe": {"model": {"generator": generator.config.to_dict()}}},
        "stylegan_t": {"kind": "stylegan_t.training.StyleGANT", "images_seen": 8},
    }, path)
    return path


def write_bad_export(path: Path, **metadata: str) -> Path:
    from safetensors.torch import save_file

    meta = {"format": "stylegan_t.generator", "format_version": "1", "aliases": "{}", "source": "{}", **metadata}
    save_file({"w": torch.zeros(2)}, str(path), metadata=meta)
    return path


@pytest.fixture(scope="module")
def files(tiny_clip, tmp_path_factory) -> dict[str, Path]:
    """Good, truncated, foreign and hostile checkpoints and exports, a malformed recipe and a plain file."""
    root = tmp_path_factory.mktemp("cli_errors")
    G = Generator(GeneratorConfig(img_resolution=16, preset="tiny", text_encoder=TextEncoderConfig(model=tiny_clip))).eval()
    ckpt = write_training_checkpoint(G, root / "good.ckpt")
    truncated = root / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    torch.save({"model": {"layer.weight": torch.zeros(3)}, "epoch": 3}, root / "foreign.ckpt")
    torch.save({"stylegan_t": {"kind": "stylegan_t.training.StyleGANT"}, "payload": Hostile(root / "PWNED")},
               root / "hostile.ckpt")
    export = export_generator(G, root / "good.safetensors")
    bad_yaml = root / "bad.yaml"
    bad_yaml.write_text("model:\n  generator: {preset: tiny\ndata:\n  urls: x\n")
    a_file = root / "a_file"
    a_file.write_text("a file, not a folder")
    return {
        "ckpt": ckpt, "truncated": truncated, "foreign": root / "foreign.ckpt", "hostile": root / "hostile.ckpt",
        "marker": root / "PWNED", "export": export, "bad_yaml": bad_yaml, "blocked": a_file / "sub",
        "meta_no_config": write_bad_export(root / "no_config.safetensors", generator_config='{"no_such_field": 1}'),
        "meta_bad_json": write_bad_export(root / "bad_json.safetensors", generator_config="{not json"),
        "meta_bad_type": write_bad_export(root / "bad_type.safetensors", generator_config='{"img_resolution": "x"}'),
    }


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> str:
    return write_test_shards(tmp_path_factory.mktemp("shards"), num_shards=1, samples_per_shard=4)["folder"]


@pytest.fixture(autouse=True)
def _never_load_weights_unsafely(monkeypatch):
    """Every case runs as if torch's default were overridden to unpickle anything: only explicit
    ``weights_only=True`` protects the hostile file."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.delenv("STYLEGAN_T_DEBUG", raising=False)


def fails(argv: list[str], capsys, *names: str, alone: bool = True) -> str:
    """``main(argv)`` exits 2 with exactly one non-empty stderr line (returned) naming each of ``names``;
    ``alone=False``: after training started, Lightning's own log lines may come first."""
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, f"exit status {rc}, stderr: {err}"
    assert "Traceback" not in err
    assert len(lines) == 1 or (not alone and lines), f"expected one line, got: {err}"
    assert lines[-1].startswith("stylegan-t")
    for name in names:
        assert str(name) in lines[-1], f"{name!r} not named in: {lines[-1]}"
    return lines[-1]


def must_not_load(monkeypatch) -> None:
    """Any model load fails the test: the error must come from the argument checks."""
    def boom(*args, **kwargs):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr("stylegan_t.pipeline.load", boom)
    monkeypatch.setattr("stylegan_t.persistence.read_generator_and_info", boom)


# --- recipes: config and fit ----------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["config", "fit"])
def test_recipe_errors(command, files, capsys, tmp_path):
    fails([command, str(files["bad_yaml"])], capsys, "bad.yaml", "not valid YAML", "line 3")
    fails([command, "tiny-cpu", "optim.batchsize=3"], capsys, "batchsize")
    fails([command, "tiny-cpu", "optim.batch_size"], capsys, "optim.batch_size")
    fails([command, str(tmp_path / "missing.yaml")], capsys, "missing.yaml")


def test_fit_checks_run_dir_and_resume_file_before_building(files, shards, capsys, tmp_path, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was built before the checks")

    monkeypatch.setattr("stylegan_t.training.module.StyleGANT.__init__", no_model)
    base = ["fit", "tiny-cpu", f"data.urls={shards}", "trainer.enable_progress_bar=false"]
    fails(base + [f"run.dir={files['blocked']}"], capsys, "run.dir", str(files["blocked"]))
    run = f"run.dir={tmp_path / 'run'}"
    fails(base + [run, "--resume", "last"], capsys, "last.ckpt", "does not exist")
    fails(base + [run, "--resume", str(tmp_path / "nope.ckpt")], capsys, "nope.ckpt", "not found")
    fails(base + [run, "--resume", str(files["truncated"])], capsys, "truncated.ckpt", "damaged")
    fails(base + [run, "--resume", str(files["foreign"])], capsys, "foreign.ckpt", "not a stylegan_t training checkpoint")
    fails(base + [run, "--resume", str(files["hostile"])], capsys, "hostile.ckpt")
    assert not files["marker"].exists()
    fails(base + [run, "trainer.devcies=2"], capsys, "trainer.devcies")
    if not torch.cuda.is_available():
        fails(base + [run, "trainer.accelerator=cuda"], capsys, "trainer", "CUDA")


def test_fit_with_unreadable_data_is_one_line(capsys, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "00000.tar").write_bytes(b"not a tar" * 100)
    fails(["fit", "tiny-cpu", f"data.urls={data}", f"run.dir={tmp_path / 'run'}", "trainer.enable_progress_bar=false",
           "data.num_workers=0"], capsys, "no readable samples", "00000.tar", alone=False)


def test_worker_tracebacks_are_reduced_to_the_original_message():
    from stylegan_t.cli.main import one_line

    text = ("Caught NoSamplesError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
            '  File "x.py", line 3, in f\n    raise NoSamplesError(msg)\n'
            "stylegan_t.data.webdataset_pipeline.NoSamplesError: data: no readable samples in 1 shard(s)\n")
    assert one_line(text) == "data: no readable samples in 1 shard(s)"


# --- generate and interpolate -----------------------------------------------------------------------------

def test_generate_bad_files(files, capsys, tmp_path):
    out = ["--prompt", "a cat", "--outdir", str(tmp_path / "out"), "--device", "cpu"]
    fails(["generate", str(tmp_path / "nope.ckpt"), *out], capsys, "nope.ckpt", "not found")
    fails(["generate", str(files["truncated"]), *out], capsys, "truncated.ckpt")
    fails(["generate", str(files["foreign"]), *out], capsys, "foreign.ckpt")
    fails(["generate", str(files["hostile"]), *out], capsys, "hostile.ckpt")
    assert not files["marker"].exists()
    fails(["generate", str(files["meta_no_config"]), *out], capsys, "no_config.safetensors", "generator_config")
    assert not (tmp_path / "out").exists()  # no output folder is made by a command that fails its checks


@pytest.mark.parametrize("name", ["meta_bad_json", "meta_bad_type"])
def test_generate_export_with_malformed_metadata(name, files, capsys, tmp_path):
    fails(["generate", str(files[name]), "--prompt", "a", "--outdir", str(tmp_path / "o"), "--device", "cpu"],
          capsys, files[name].name)


@pytest.mark.parametrize("bad, names", [
    (["--truncation", "nan"], ["--truncation", "nan"]),
    (["--truncation", "inf"], ["--truncation", "inf"]),
    (["--truncation=-inf"], ["--truncation", "-inf"]),
    (["--seeds=-1"], ["--seeds", "-1"]),
    (["--seeds", str(2**64)], ["--seeds", str(2**64)]),
    (["--seeds", f"0-{2**64}"], ["--seeds", str(2**64)]),
    (["--batch-size", "0"], ["--batch-size"]),
    (["--device", "cuda:x"], ["--device", "cuda:x"]),
])
def test_generate_bad_arguments_fail_before_loading(bad, names, files, capsys, tmp_path, monkeypatch):
    must_not_load(monkeypatch)
    fails(["generate", str(files["export"]), "--prompt", "a", "--outdir", str(tmp_path / "o"), *bad], capsys, *names)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_gpu(files, capsys, tmp_path, monkeypatch):
    must_not_load(monkeypatch)
    fails(["generate", str(files["export"]), "--prompt", "a", "--outdir", str(tmp_path / "o"), "--device", "cuda"],
          capsys, "--device", "cuda", "no CUDA GPU")
    fails(["interpolate", str(files["export"]), "--prompt", "a", "--out", str(tmp_path / "a.gif"), "--device", "cuda"],
          capsys, "--device", "cuda")


def test_unwritable_outputs_fail_before_generating(files, capsys, tmp_path, monkeypatch):
    must_not_load(monkeypatch)
    blocked = str(files["blocked"])  # a path under an existing file: no folder can be made there, even as root
    fails(["generate", str(files["export"]), "--prompt", "a", "--outdir", blocked], capsys, "--outdir", blocked)
    fails(["generate", str(files["export"]), "--prompt", "a", "--outdir", str(tmp_path / "o"),
           "--grid", f"{blocked}/grid.png"], capsys, "--grid", "grid.png")
    fails(["interpolate", str(files["export"]), "--prompt", "a", "--out", f"{blocked}/walk.gif"], capsys, "--out", "walk.gif")
    fails(["interpolate", str(files["export"]), "--prompt", "a", "--out", f"{blocked}/frames/"], capsys, "--out", blocked)
    fails(["export", str(files["ckpt"]), f"{blocked}/g.safetensors"], capsys, "g.safetensors")


def test_interpolate_bad_input(files, capsys, tmp_path, monkeypatch):
    out = ["--out", str(tmp_path / "a.gif"), "--device", "cpu"]
    fails(["interpolate", str(files["truncated"]), "--prompt", "a", *out], capsys, "truncated.ckpt")
    fails(["interpolate", str(files["hostile"]), "--prompt", "a", *out], capsys, "hostile.ckpt")
    assert not files["marker"].exists()
    must_not_load(monkeypatch)
    fails(["interpolate", str(files["export"]), "--prompt", "a", "--truncation", "nan", *out], capsys, "--truncation")
    fails(["interpolate", str(files["export"]), "--prompt", "a", "--seeds", f"0,{2**64}", *out], capsys, str(2**64))
    fails(["interpolate", str(files["export"]), "--prompt", "a", "--steps", "1", *out], capsys, "--steps")


# --- export, convert-official, eval ----------------------------------------------------------------------

def test_export_bad_files(files, capsys, tmp_path):
    out = str(tmp_path / "g.safetensors")
    fails(["export", str(tmp_path / "nope.ckpt"), out], capsys, "nope.ckpt")
    fails(["export", str(files["truncated"]), out], capsys, "truncated.ckpt")
    fails(["export", str(files["foreign"]), out], capsys, "foreign.ckpt")
    fails(["export", str(files["hostile"]), out], capsys, "hostile.ckpt")
    fails(["export", str(files["meta_no_config"]), out], capsys, "no_config.safetensors")
    fails(["export", str(files["ckpt"]), str(tmp_path / "g.pt")], capsys, ".safetensors")
    assert not files["marker"].exists() and not Path(out).exists()


def test_convert_official_bad_files(files, capsys, tmp_path):
    arch = ["--img-resolution", "16", "--channel-base", "64", "--channel-max", "32", "--num-res-blocks", "1",
            "--text-encoder", "ViT-B-32"]
    fails(["convert-official", str(tmp_path / "nope.pt"), str(tmp_path / "o.safetensors"), *arch], capsys, "nope.pt")
    fails(["convert-official", str(files["hostile"]), str(tmp_path / "o.safetensors"), *arch], capsys, "hostile.ckpt")
    fails(["convert-official", str(files["truncated"]), str(tmp_path / "o.safetensors"), *arch], capsys, "truncated.ckpt")
    assert not files["marker"].exists()


def test_eval_bad_files(files, capsys, tmp_path):
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps(["a cat"]))
    base = ["--metrics", "clip_score", "--captions", str(captions), "--num", "1", "--out", str(tmp_path / "ev")]
    fails(["eval", str(tmp_path / "nope.ckpt"), *base], capsys, "nope.ckpt")
    fails(["eval", str(files["truncated"]), *base], capsys, "truncated.ckpt")
    fails(["eval", str(files["hostile"]), *base], capsys, "hostile.ckpt")
    fails(["eval", str(files["ckpt"]), *base, "--truncation", "nan"], capsys, "nan")
    assert not files["marker"].exists()


# --- data commands, demo, top level ----------------------------------------------------------------------

def test_shard_commands(files, capsys, tmp_path):
    fails(["make-shards", str(tmp_path / "no_such_src"), str(tmp_path / "dest")], capsys, "no_such_src")
    src = tmp_path / "src"
    src.mkdir()
    fails(["make-shards", str(src), str(files["blocked"])], capsys, "DEST", str(files["blocked"]))
    fails(["make-shards", str(src), str(tmp_path / "dest"), "--shard-size", "0"], capsys, "--shard-size")
    fails(["check-shards", str(tmp_path / "none" / "*.tar")], capsys, "no shards found")
    fails(["check-shards", str(tmp_path / "x.tar"), "--json", f"{files['blocked']}/r.json"], capsys, "--json", "r.json")


def test_demo_checks_out_folder_and_overrides(files, capsys, tmp_path):
    fails(["demo", "--quick", "--out", str(files["blocked"])], capsys, "--out", str(files["blocked"]))
    fails(["demo", "--quick", "--out", str(tmp_path / "d"), "optim.batchsize=3"], capsys, "batchsize")
    fails(["demo", "--quick", "--out", str(tmp_path / "d"), "optim.batch_size=many"], capsys, "batch_size", "many")
    assert not (tmp_path / "d").exists()  # nothing drawn, no folder made


def test_usage_errors_are_one_line(capsys):
    fails(["nonsense-command"], capsys, "nonsense-command")
    fails(["generate"], capsys, "--prompt")
    fails(["fit"], capsys, "recipe")


def test_debug_shows_the_traceback(files, capsys, tmp_path, monkeypatch):
    argv = ["export", str(files["foreign"]), str(tmp_path / "g.safetensors")]
    assert main([*argv, "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "CheckpointLoadError" in err and err.rstrip().splitlines()[-1].startswith("stylegan-t export")
    monkeypatch.setenv("STYLEGAN_T_DEBUG", "1")
    assert main(argv) == 2 and "Traceback" in capsys.readouterr().err


# --- a real process ----------------------------------------------------------------------------------------

def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    environ.pop("STYLEGAN_T_DEBUG", None)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "stylegan_t.cli.main", *args], capture_output=True, text=True,
                          env=environ, timeout=120, cwd=REPO_ROOT)


def one_line_exit_2(proc: subprocess.CompletedProcess, *names: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    assert all(name in lines[0] for name in names), lines[0]


@pytest.mark.slow  # launches the command line a dozen times
def test_subprocess_errors(files, shards, tmp_path):
    one_line_exit_2(run_cli("config", str(files["bad_yaml"])), "bad.yaml", "line 3")
    one_line_exit_2(run_cli("generate", str(files["export"]), "--prompt", "a", "--outdir", str(tmp_path / "o"),
                            "--truncation", "nan"), "--truncation")
    hostile = run_cli("fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={tmp_path / 'run'}", "--resume",
                      str(files["hostile"]), env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    one_line_exit_2(hostile, "hostile.ckpt")
    assert not files["marker"].exists()
    debug = run_cli("config", str(files["bad_yaml"]), "--debug")
    assert debug.returncode == 2 and "Traceback" in debug.stderr and "bad.yaml" in debug.stderr
