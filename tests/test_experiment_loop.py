"""A researcher's loop through the CLI: an own recipe file (``base:``), an own StyleGANT subclass named by
``model.module`` and found with ``--code``, trained, resumed, exported, generated from, and its discriminator
reloaded; the commands of docs/extending.md and docs/discriminator.md."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from shard_helpers import write_test_shards

from stylegan_t.cli.main import main
from stylegan_t.errors import MissingWeightsError, RecipeError
from stylegan_t.training.loading import load_discriminator, load_module
from stylegan_t.training.preflight import preflight
from stylegan_t.training.recipe import load_recipe

EXPERIMENTS = Path(__file__).with_name("experiments")
#: (model.module, the discriminator class it trains)
SUBCLASSES = [
    ("docs_discriminators:ResNetGAN", "ResNetD"),
    ("docs_discriminators:FlipGAN", "FlipD"),
    ("docs_discriminators:GlobalHeadGAN", "GlobalHeadD"),
    ("docs_discriminators:MeanPerHeadGAN", "MeanPerHeadD"),
    ("my_experiment:PooledMLPGAN", "PooledMLPD"),  # in no doc: its own backbone and heads
]
QUIET = ["trainer.enable_progress_bar=false", "trainer.logger=false"]

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_test_shards(tmp_path_factory.mktemp("shards"), num_shards=2, samples_per_shard=8, include_bad=False)["folder"]


def run_cli(capsys, *argv):
    """``stylegan-t ARGV`` in this process: (exit status, stderr lines)."""
    status = main([str(a) for a in argv])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "Warning" not in line]
    return status, err


def assert_heads_as_saved(D, ckpt):
    heads = {k: v for k, v in D.state_dict().items() if k.startswith("heads.")}
    assert heads
    for key, value in heads.items():
        assert torch.equal(ckpt["state_dict"][f"discriminator.{key}"], value), key


@pytest.mark.parametrize("module,d_class", SUBCLASSES, ids=[m for m, _ in SUBCLASSES])
def test_a_subclass_trains_resumes_exports_generates_and_reloads(module, d_class, shards, tmp_path, capsys):
    run = tmp_path / "run"
    recipe = tmp_path / "my-recipe.yaml"
    recipe.write_text(f"base: tiny-cpu\nmodel:\n  module: {module}\ndata:\n  urls: {shards}\nrun:\n  dir: {run}\n")
    code = ["--code", EXPERIMENTS]
    status, err = run_cli(capsys, "fit", recipe, *QUIET, "run.total_kimg=0.016", *code)  # 2 iterations of 8
    assert status == 0, err
    last = run / "checkpoints" / "last.ckpt"
    meta = torch.load(last, weights_only=True)["stylegan_t"]
    assert meta["module"] == module and meta["images_seen"] == 16
    status, err = run_cli(capsys, "fit", recipe, *QUIET, "run.total_kimg=0.024", *code, "--resume", "last")
    assert status == 0, err
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["stylegan_t"]["images_seen"] == 24 and ckpt["stylegan_t"]["module"] == module

    export = tmp_path / "g.safetensors"
    assert run_cli(capsys, "export", last, export)[0] == 0 and export.is_file()
    out = tmp_path / "out"
    status, err = run_cli(capsys, "generate", export, "--prompt", "a red square", "--seeds", "0-1", "--outdir", out, "--device", "cpu")
    assert status == 0, err
    assert len(list(out.glob("*.png"))) == 2

    D = load_discriminator(last, module=module, code=[EXPERIMENTS])
    assert type(D).__name__ == d_class and not D.training
    assert_heads_as_saved(D, ckpt)
    G = load_module(last, module=module, code=[EXPERIMENTS]).generator_ema.module
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        logits = D(images, G.mapping.encode_text(["a red square", "a blue square"]))
    assert logits.shape[0] == 2 and torch.isfinite(logits).all()

    # the same checkpoint without naming its class: one line, nothing imported from the file
    with pytest.raises(RecipeError, match=f"trained by '{module}'"):
        load_discriminator(last)
    status, err = run_cli(capsys, "fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={run}", *QUIET, "--resume", "last")
    assert status == 2 and len(err) == 1 and f"trained by '{module}'" in err[0], err


def test_a_subclass_trains_under_two_process_ddp(shards, tmp_path):
    run = tmp_path / "run"
    module = "docs_discriminators:GlobalHeadGAN"
    argv = [sys.executable, "-m", "stylegan_t.cli.main", "fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={run}", *QUIET,
            "trainer.devices=2", "trainer.strategy=ddp", "optim.micro_batch_size=2", "run.total_kimg=0.016",
            f"model.module={module}", "--code", str(EXPERIMENTS)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["stylegan_t"]["module"] == module and ckpt["stylegan_t"]["images_seen"] == 16
    D = load_discriminator(last, module=module, code=[EXPERIMENTS])
    assert "global" in D.heads
    assert_heads_as_saved(D, ckpt)


def test_the_module_says_which_weights_files_it_needs(shards):
    """A discriminator with its own backbone trains with no DINO file set; the stock module still refuses."""
    unset = [f"data.urls={shards}", "model.discriminator.feature_network.weights=null"]
    preflight(load_recipe("tiny-cpu", [*unset, "model.module=docs_discriminators:ResNetGAN"]), code=[EXPERIMENTS])
    with pytest.raises(MissingWeightsError, match="model.discriminator.feature_network.weights"):
        preflight(load_recipe("tiny-cpu", unset))


def test_a_checkpoint_never_imports_the_class_it_names(shards, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert run_cli(capsys, "fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={run}", *QUIET, "run.total_kimg=0.008")[0] == 0
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["stylegan_t"]["module"] = "os:system"
    hostile = tmp_path / "hostile.ckpt"
    torch.save(ckpt, hostile)
    import importlib

    imported = []
    real_import = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name) or real_import(name, *a))
    with pytest.raises(RecipeError, match="trained by 'os:system'"):
        load_discriminator(hostile)
    status, err = run_cli(capsys, "fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={run}", *QUIET, "--resume", hostile)
    assert status == 2 and len(err) == 1 and "trained by 'os:system'" in err[0], err
    assert "os" not in imported
    # naming it is the user's choice, and it is checked to be a StyleGANT subclass before anything runs
    status, err = run_cli(capsys, "fit", "tiny-cpu", f"data.urls={shards}", f"run.dir={run}", "model.module=os:system")
    assert status == 2 and err == ["stylegan-t fit: model.module: 'os:system' is not a subclass of stylegan_t.training.StyleGANT"]


def test_a_pretrained_discriminator_folder_round_trips(tmp_path):
    sys.path.insert(0, str(EXPERIMENTS))
    from docs_discriminators import GlobalHeadD

    from stylegan_t.models.discriminator import ProjectedDiscriminator, feature_network_preset
    from stylegan_t.persistence import CheckpointLoadError

    D = GlobalHeadD(8, feature_network=feature_network_preset("conv-tiny"), diffaug="")
    with torch.no_grad():
        for p in D.heads.parameters():
            p.add_(torch.randn_like(p))
    D.save_pretrained(tmp_path / "d")
    files = {p.name for p in (tmp_path / "d").iterdir()}
    assert files == {"config.json", "model.safetensors"}
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "d" / "model.safetensors"))
    assert not any(k.startswith("feature_network.") for k in stored)  # the backbone by reference
    again = GlobalHeadD.from_pretrained(tmp_path / "d")
    x, c = torch.rand(3, 3, 16, 16) * 2 - 1, torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(D.eval()(x, c), again(x, c))
    with pytest.raises(CheckpointLoadError, match="GlobalHeadD.from_pretrained"):
        ProjectedDiscriminator.from_pretrained(tmp_path / "d")
    plain = ProjectedDiscriminator(8, feature_network=feature_network_preset("conv-tiny"))
    plain.save_pretrained(tmp_path / "plain")
    assert type(load_discriminator(tmp_path / "plain")) is ProjectedDiscriminator


def test_an_own_recipe_file_derives_from_a_built_in(tmp_path, capsys):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mid.yaml").write_text("base: tiny-cpu\noptim:\n  batch_size: 16\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("base: sub/mid.yaml\nloss:\n  blur_sigma: 1.0\n")
    assert load_recipe(mine) == load_recipe("tiny-cpu", ["optim.batch_size=16", "loss.blur_sigma=1.0"])
    status = main(["config", str(mine), "--diff"])
    out = capsys.readouterr().out.splitlines()
    assert status == 0 and out == ["# " + str(mine) + ": 1 key(s) differ from its base 'sub/mid.yaml'",
                                   "loss.blur_sigma: 1.0  # base: 2.0"], out
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    for argv, text in [((tmp_path / "nowhere" / "lite-64.yaml",), "does not exist"),
                       (("lite-46",), "did you mean 'lite-64'"),
                       ((tmp_path / "a.yaml",), "cycle"),
                       (("./tiny-cpu.yaml",), "does not exist")]:
        for command in ("config", "fit"):
            status, err = run_cli(capsys, command, *argv)
            assert status == 2 and len(err) == 1 and text in err[0], err


def test_docs_recipes_page_is_literally_true(tmp_path, capsys, monkeypatch):
    """docs/recipes.md: its recipe file, its command and the output it shows."""
    import re

    page = (Path(__file__).resolve().parents[1] / "docs" / "recipes.md").read_text()
    blocks = re.findall(r"```(\w*)\n(.*?)```", page, re.S)
    recipe = next(body for lang, body in blocks if lang == "yaml" and body.startswith("# my-lite.yaml"))
    command = next(body for lang, body in blocks if lang == "bash" and "my-lite.yaml --diff" in body).strip()
    shown = next(body for lang, body in blocks if lang == "" and body.startswith("# my-lite.yaml"))
    monkeypatch.chdir(tmp_path)
    Path("my-lite.yaml").write_text(recipe)
    assert main(command.split()[1:]) == 0
    assert capsys.readouterr().out == shown
    for text in ("recipe file 'recipes/lite64.yaml' does not exist", "did you mean 'lite-64'? built-ins: "):
        assert text in page
    assert main(["config", "recipes/lite64.yaml"]) == 2
    assert "recipe file 'recipes/lite64.yaml' does not exist" in capsys.readouterr().err


def _blocks(page: str, lang: str) -> list[str]:
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / page).read_text()
    return [body for kind, body in re.findall(r"```(\w*)\n(.*?)```", text, re.S) if kind == lang]


def test_docs_extending_loop_runs_as_written(shards, tmp_path, capsys, monkeypatch):
    """docs/extending.md, literally: its classes as experiments/my_experiments.py, its recipe, its commands,
    its reload snippet; then docs/discriminator.md's scoring snippet on the stock module's checkpoint."""
    import shlex
    import shutil

    monkeypatch.chdir(tmp_path)
    python = _blocks("extending.md", "python")
    usage = [b for b in python if "load_discriminator(" in b]
    Path("experiments").mkdir()
    Path("experiments/my_experiments.py").write_text("\n\n".join(b for b in python if b not in usage))
    recipe = next(b for b in _blocks("extending.md", "yaml") if b.startswith("# my-recipe.yaml"))
    Path("my-recipe.yaml").write_text(recipe)
    shutil.copytree(shards, "data/shards")
    commands = [shlex.split(line.split("#")[0]) for b in _blocks("extending.md", "bash") for line in b.splitlines() if line.strip()]
    assert [c[1] for c in commands] == ["config", "fit", "fit", "export", "generate"]
    for argv in commands:
        if argv[1] == "fit":
            argv += [*QUIET, "run.total_kimg=0.016" if "--resume" not in argv else "run.total_kimg=0.024"]
        status, err = run_cli(capsys, *argv[1:])
        assert status == 0, (argv, err)
    assert len(list(Path("out").glob("*.png"))) == 2
    scope: dict = {}
    exec(usage[0], scope)  # noqa: S102 - the doc's own snippet
    assert type(scope["D"]).__name__ == "ResNetD"

    # docs/discriminator.md: score a real image with the stock module's trained D
    status, err = run_cli(capsys, "fit", "tiny-cpu", "data.urls=data/shards", "run.dir=runs/mine", *QUIET, "run.total_kimg=0.008")
    assert status == 0, err
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save("photo.png")
    snippet = next(b for b in _blocks("discriminator.md", "python") if "load_discriminator(ckpt)" in b)
    scope = {}
    exec(snippet, scope)  # noqa: S102
    assert scope["logits"].shape[0] == 1 and torch.isfinite(scope["logits"]).all()
    capsys.readouterr()
