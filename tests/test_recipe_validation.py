"""Every bad setting of the probe (issue 12) fails at load time or in the preflight, quickly, with ONE line naming
the key or the file: typos, wrong types, ranges, unknown presets and kinds, missing files, malformed YAML."""
import time

import pytest

from stylegan_t.errors import MissingWeightsError, RecipeError, UserError
from stylegan_t.training.preflight import check_pretrained_files, check_shard_files, check_trainer_extra, preflight
from stylegan_t.training.recipe import load_recipe

# (override, text the one-line message must contain)
BAD_OVERRIDES = [
    # typos: unknown keys in every section, with the valid key suggested
    ("optim.batchsize=3", "batchsize"),
    ("trainer.devcies=2", "devcies"),
    ("model.generator.img_resolutoin=64", "img_resolutoin"),
    ("model.discriminator.feature_netwrk.kind=vit", "feature_netwrk"),
    ("data.url=x.tar", "url"),
    ("loss.clip_wieght=1", "clip_wieght"),
    ("run.totl_kimg=1", "totl_kimg"),
    ("eval.every=1", "every"),
    ("trainer.extra.devices=2", "trainer.extra"),
    # wrong types
    ("optim.batch_size=many", "batch_size"),
    ("optim.g_lr=fast", "g_lr"),
    ("trainer.devices=two", "trainer.devices"),
    ("data.urls=3", "data.urls"),
    # ranges
    ("optim.ema_kimg=-5", "optim.ema_kimg"),
    ("run.total_kimg=-1", "run.total_kimg"),
    ("loss.clip_weight=-1", "loss.clip_weight"),
    ("optim.micro_batch_size=0", "optim.micro_batch_size"),
    ("optim.batch_size=-8", "optim.batch_size"),
    ("optim.micro_batch_size=100", "optim.micro_batch_size"),
    ("optim.g_lr=0", "optim.g_lr"),
    ("optim.d_lr=-0.1", "optim.d_lr"),
    ("optim.betas=[0.5,1.0]", "optim.betas[1]"),
    ("optim.betas=[-0.1,0.9]", "optim.betas[0]"),
    ("model.generator.img_resolution=48", "model.generator.img_resolution"),
    ("model.generator.img_resolution=4096", "model.generator.img_resolution"),
    ("loss.blur_sigma=-1", "loss.blur_sigma"),
    ("model.discriminator.p_crop=1.5", "model.discriminator.p_crop"),
    ("trainer.num_nodes=0", "trainer.num_nodes"),
    ("trainer.devices=3", "optim.batch_size"),  # 2048 is not a multiple of 3 x 64
    ("data.batches_per_epoch=0", "data.batches_per_epoch"),
    ("run.sample_every_kimg=0", "run.sample_every_kimg"),
    # unknown presets and kinds, with the valid names
    ("model.generator.preset=lit", "'full', 'lite', 'tiny'"),
    ("model.discriminator.feature_network.kind=resnet", "'vit', 'open_clip', 'conv'"),
    ("model.train_mode=everything", "model.train_mode"),
    ("trainer.accelerator=gpux", "trainer.accelerator"),
    ("trainer.precision=bf17", "trainer.precision"),
    ("model.discriminator.diffaug=color,jitter", "model.discriminator.diffaug"),
]


@pytest.fixture(scope="module", autouse=True)
def _imported():
    """Import the heavy libraries once, so the time limit below measures the checks, not a busy CI's imports."""
    import lightning  # noqa: F401
    import open_clip  # noqa: F401
    import timm  # noqa: F401

    import stylegan_t.metrics.fid  # noqa: F401


def _one_line_error(call, error=RecipeError):
    start = time.perf_counter()
    with pytest.raises(error) as info:
        call()
    assert time.perf_counter() - start < 10, "validation must not build anything"
    message = str(info.value)
    assert "\n" not in message and isinstance(info.value, UserError)
    return message


@pytest.mark.parametrize("override,names", BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_bad_override_fails_at_load_time_naming_the_key(override, names):
    message = _one_line_error(lambda: load_recipe("lite-64", [override]))
    assert names in message, message


def test_unknown_key_suggests_the_valid_one():
    assert "devices" in _one_line_error(lambda: load_recipe("lite-64", ["trainer.devcies=2"]))


def test_malformed_and_foreign_recipe_files(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("model:\n  generator: [\n")
    assert "not valid YAML (line 3" in _one_line_error(lambda: load_recipe(broken))
    listing = tmp_path / "list.yaml"
    listing.write_text("- model\n- data\n")
    assert "mapping of sections" in _one_line_error(lambda: load_recipe(listing))
    typo = tmp_path / "typo.yaml"
    typo.write_text("optim:\n  micro_batch_size: 0\n")
    assert "optim.micro_batch_size" in _one_line_error(lambda: load_recipe(typo))
    assert "built-ins" in _one_line_error(lambda: load_recipe("lite-65"))
    assert "section.key=value" in _one_line_error(lambda: load_recipe("lite-64", ["optim.batch_size"]))


def test_trainer_section_is_typed_with_an_explicit_pass_through():
    recipe = load_recipe("tiny-cpu", ["trainer.extra={max_time: '00:00:05:00', deterministic: true}", "trainer.logger=false"])
    kwargs = recipe.trainer.to_kwargs()
    assert kwargs["max_time"] == "00:00:05:00" and kwargs["deterministic"] is True and kwargs["logger"] is False
    assert kwargs["accelerator"] == "cpu" and kwargs["devices"] == 1 and "extra" not in kwargs
    assert "logger" not in load_recipe("tiny-cpu").trainer.to_kwargs()  # true = the run's default logger
    check_trainer_extra(recipe)
    bad = load_recipe("tiny-cpu", ["trainer.extra={max_tme: 5}"])
    assert "trainer.extra.max_tme" in _one_line_error(lambda: check_trainer_extra(bad))


@pytest.fixture()
def weights(tmp_path, monkeypatch):
    """An empty weights folder as $STYLEGAN_T_WEIGHTS; ``put(name)`` creates a (dummy) file in it."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("STYLEGAN_T_WEIGHTS", str(folder))

    def put(name):
        (folder / name).write_bytes(b"x")
        return folder / name

    put.folder = folder
    return put


def _missing(recipe) -> tuple[str, str]:
    """(the one-line message, the how-to lines) of the preflight's missing-weights error."""
    with pytest.raises(MissingWeightsError) as info:
        check_pretrained_files(recipe)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    return message, " ".join(info.value.details)


def test_paper_recipes_need_every_pretrained_file_and_name_all_missing_ones(weights):
    message, details = _missing(load_recipe("lite-64"))
    folder = weights.folder
    assert message.startswith("2 pretrained weights files are missing")  # one file serves the encoder and guidance
    for key, file in [("model.generator.text_encoder.pretrained", "ViT-L-14-quickgelu-openai.safetensors"),
                      ("model.discriminator.feature_network.weights", "dino_vits16.pth"),
                      ("loss.clip_pretrained", "ViT-L-14-quickgelu-openai.safetensors")]:
        assert key in message and str(folder / file) in message, key
    assert "timm.create_model" in details and "open_clip.create_model" in details  # how to get them
    assert details.count("open_clip.create_model") == 1  # said once, not once per key
    weights("ViT-L-14-quickgelu-openai.pt")
    message, _ = _missing(load_recipe("lite-64"))
    assert message.startswith("a pretrained weights file is missing") and str(folder / "dino_vits16.pth") in message
    assert "model.discriminator.feature_network.weights" in message
    weights("dino_vits16.pth")
    for name in ("lite-64", "full-64", "full-256-freeze64", "full-512-freeze64", "text-encoder"):
        check_pretrained_files(load_recipe(name))  # every paper recipe names only these two files


@pytest.mark.parametrize("override,key", [
    ("model.discriminator.feature_network.weights=null", "model.discriminator.feature_network.weights is not set"),
    ("model.generator.text_encoder.pretrained=null", "model.generator.text_encoder.pretrained: no weights given"),
    ("loss.clip_pretrained=null", "loss.clip_pretrained: no weights given"),
    ("model.discriminator.feature_network.weights=/nowhere/dino.pth", "/nowhere/dino.pth"),
    ("model.generator.text_encoder.pretrained=/nowhere/clip.bin", "/nowhere/clip.bin"),
    ("eval.every_kimg=100", "pt_inception-2015-12-05-6726825d.pth"),
    ("eval.clip_model=ViT-g-14", "eval.clip_pretrained"),
    ("model.discriminator.extra_feature_network.kind=conv", "model.discriminator.extra_feature_network.weights is not set"),
])
def test_never_random_by_omission(weights, override, key):
    weights("ViT-L-14-quickgelu-openai.pt"), weights("dino_vits16.pth")
    extra = ["eval.every_kimg=100", "eval.fid=false"] if override.startswith("eval.clip") else []
    message, details = _missing(load_recipe("lite-64", [override, *extra]))
    assert key in message + " " + details, message


def test_random_networks_only_when_the_recipe_says_so(weights):
    check_pretrained_files(load_recipe("tiny-cpu"))  # pretrained: random, weights: random
    random_lite = ["model.generator.text_encoder.pretrained=random", "model.discriminator.feature_network.weights=random",
                   "loss.clip_pretrained=random"]
    check_pretrained_files(load_recipe("lite-64", random_lite))


def test_unknown_architectures_fail_in_the_preflight(weights, tmp_path):
    weights("ViT-L-14-quickgelu-openai.pt"), weights("dino_vits16.pth")
    for override, key in [("model.generator.text_encoder.model=ViT-L-14-quickgel", "model.generator.text_encoder.model"),
                          ("model.discriminator.feature_network.model=vit_smol", "model.discriminator.feature_network.model"),
                          ("loss.clip_model=ViT-Q-1", "loss.clip_model")]:
        assert key in _one_line_error(lambda: preflight(load_recipe("lite-64", [override, f"data.urls={tmp_path}"])))


def test_a_missing_local_clip_of_either_feature_network_is_named(tmp_path):
    from stylegan_t.cli.checks import check_local_clip_folders
    from stylegan_t.errors import MissingWeightsError

    for key in ("model.discriminator.feature_network", "model.discriminator.extra_feature_network"):
        recipe = load_recipe("tiny-cpu", [f"{key}.kind=open_clip", f"{key}.model=local-dir:{tmp_path / 'none'}"])
        message = _one_line_error(lambda: check_local_clip_folders(recipe), MissingWeightsError)
        assert message.startswith(f"{key}.model: no CLIP in") and "stylegan-t pretrain-clip" in message, message


def test_missing_local_shards_are_named_and_remote_ones_not_checked(tmp_path):
    for index in range(3):
        (tmp_path / f"{index:03d}.tar").write_bytes(b"")
    check_shard_files(load_recipe("tiny-cpu", [f"data.urls={tmp_path}/{{000..002}}.tar"]))
    check_shard_files(load_recipe("tiny-cpu", [f"data.urls={tmp_path}"]))
    check_shard_files(load_recipe("tiny-cpu", ["data.urls=pipe:cat /nowhere/{0..3}.tar"]))
    check_shard_files(load_recipe("tiny-cpu", ["data.urls=https://example.invalid/{0..3}.tar"]))
    message = _one_line_error(lambda: check_shard_files(load_recipe("tiny-cpu", [f"data.urls={tmp_path}/{{000..004}}.tar"])))
    assert message.startswith("data.urls: 2 of 5 local shard files are missing") and str(tmp_path / "003.tar") in message
    message = _one_line_error(lambda: check_shard_files(load_recipe("lite-64")))  # /data/shards/{00000..09999}.tar
    assert "10000 of 10000" in message and "/data/shards/00000.tar" in message
    assert "no shards found" in _one_line_error(lambda: check_shard_files(load_recipe("tiny-cpu", [f"data.urls={tmp_path}/*.zip"])))
    mixed = load_recipe("tiny-cpu", ["data.urls=null", f"data.sources=[{{urls: '{tmp_path}/000.tar'}}, {{urls: '{tmp_path}/9.tar'}}]"])
    assert _one_line_error(lambda: check_shard_files(mixed)).startswith("data.sources[1].urls: 1 of 1")


def test_fit_stops_before_building_any_model_when_dino_is_missing(weights, tmp_path, monkeypatch, capsys):
    """``stylegan-t fit lite-64`` with the text encoder file in place but no DINO file names the DINO file."""
    from stylegan_t.cli.main import main
    from stylegan_t.training import module

    weights("ViT-L-14-quickgelu-openai.pt")
    (tmp_path / "000.tar").write_bytes(b"")

    def no_model(*args, **kwargs):
        raise AssertionError("StyleGANT was built before the missing DINO file was reported")

    monkeypatch.setattr(module.StyleGANT, "__init__", no_model)
    argv = ["fit", "lite-64", f"data.urls={tmp_path}/000.tar", f"run.dir={tmp_path / 'run'}",
            "trainer.accelerator=cpu", "trainer.devices=1"]
    try:  # the library error, or the CLI printing it and exiting 2
        status, message = main(argv), ""
    except MissingWeightsError as err:
        status, message = 2, str(err)
    except SystemExit as exit_:
        status, message = exit_.code, str(exit_.code)
    message += capsys.readouterr().err
    assert status not in (0, None) and str(weights.folder / "dino_vits16.pth") in message, message
    assert "model.discriminator.feature_network.weights" in message
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("override,names", BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_fit_command_exits_2_with_one_line_for_each_bad_setting(override, names, capsys, tmp_path):
    from stylegan_t.cli.main import main

    start = time.perf_counter()
    status = main(["fit", "lite-64", override, f"run.dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and time.perf_counter() - start < 10
    assert len(lines) == 1 and "Traceback" not in err and names in lines[0], err


#: settings that pass the recipe's own types and ranges but not the checks of the whole run (no files needed)
RUN_LEVEL_BAD = [
    ("trainer.extra={max_tme: 5}", "trainer.extra.max_tme"),
    ("model.generator.text_encoder.model=ViT-L-14-quickgel", "model.generator.text_encoder.model"),
    ("model.discriminator.feature_network.model=vit_smol", "model.discriminator.feature_network.model"),
    ("model.module=os:system", "model.module"),
    ("model.module=no_such_package.experiments:MyGAN", "--code"),
    ("model.module=not a class path", "model.module"),
]


@pytest.mark.parametrize("override,names", BAD_OVERRIDES + RUN_LEVEL_BAD, ids=[o for o, _ in BAD_OVERRIDES + RUN_LEVEL_BAD])
def test_config_and_fit_refuse_the_same_settings_with_the_same_line(override, names, capsys, tmp_path):
    from stylegan_t.cli.main import main

    said = {}
    for command in ("config", "fit"):
        status = main([command, "lite-64", override, f"run.dir={tmp_path / 'run'}"])
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert status == 2 and len(lines) == 1 and names in lines[0], (command, lines)
        said[command] = lines[0].removeprefix(f"stylegan-t {command}: ")
    assert said["config"] == said["fit"]
    assert not (tmp_path / "run").exists()  # nothing written by a refused run


def test_config_check_files_runs_the_preflight(weights, tmp_path, capsys):
    from stylegan_t.cli.main import main

    weights("ViT-L-14-quickgelu-openai.pt")
    (tmp_path / "000.tar").write_bytes(b"")
    argv = ["config", "lite-64", f"data.urls={tmp_path}/000.tar"]
    assert main(argv) == 0  # files are not read without --check-files
    capsys.readouterr()
    assert main([*argv, "--check-files"]) == 2
    err = capsys.readouterr().err
    assert "model.discriminator.feature_network.weights" in err and str(weights.folder / "dino_vits16.pth") in err
    weights("dino_vits16.pth")  # present now, but not weights: the preflight reads what it checks
    assert main([*argv, "--check-files"]) == 2
    assert "dino_vits16.pth' is not a weights file" in capsys.readouterr().err
