"""Recipes: every built-in recipe resolves and validates; typos and wrong types fail with the key's name."""
from pathlib import Path

import pytest

from stylegan_t.cli.main import main
from stylegan_t.training.recipe import RECIPES_DIR, RecipeError, load_recipe

RECIPES = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def test_the_paper_recipes_exist():
    assert {"lite-64", "full-64", "full-256-freeze64", "full-512-freeze64", "text-encoder", "tiny-cpu", "demo"} <= set(RECIPES)


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_resolves_and_validates(name, capsys):
    recipe = load_recipe(name)
    assert recipe.optim.batch_size % recipe.optim.micro_batch_size == 0
    assert main(["config", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model:") and "trainer:" in out


def test_paper_settings():
    lite, full = load_recipe("lite-64"), load_recipe("full-64")
    assert lite.model.generator.preset == "lite" and full.model.generator.preset == "full"
    for r in (lite, full):
        assert r.optim.batch_size == 2048 and r.loss.clip_weight == 0.2 and r.optim.betas == [0.0, 0.99]
        assert r.optim.g_lr == r.optim.d_lr == 0.002 and r.trainer.precision == "bf16-mixed"
    te = load_recipe("text-encoder")
    assert te.model.train_mode == "text_encoder" and te.optim.g_lr == 3e-6 and te.loss.clip_weight == 50.0
    assert load_recipe("full-256-freeze64").model.train_mode == "freeze64"


def test_overrides_apply(capsys):
    recipe = load_recipe("lite-64", ["optim.batch_size=256", "trainer.devices=4"])
    assert recipe.optim.batch_size == 256 and recipe.trainer.devices == 4
    assert main(["config", "lite-64", "optim.micro_batch_size=32"]) == 0
    assert "micro_batch_size: 32" in capsys.readouterr().out


def test_typos_and_wrong_types_fail_with_the_key(tmp_path):
    with pytest.raises(RecipeError, match="batchsize") as err:
        load_recipe("lite-64", ["optim.batchsize=3"])
    assert "batch_size" in str(err.value)  # the valid key is suggested
    with pytest.raises(RecipeError, match="batch_size"):
        load_recipe("lite-64", ["optim.batch_size=many"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  generator:\n    img_resolutoin: 64\n")
    with pytest.raises(RecipeError, match="img_resolutoin"):
        load_recipe(bad)
    with pytest.raises(RecipeError, match="train_mode"):
        load_recipe("lite-64", ["model.train_mode=everything"])
    with pytest.raises(RecipeError, match="multiple"):
        load_recipe("lite-64", ["optim.micro_batch_size=100"])
    with pytest.raises(RecipeError, match="built-in"):
        load_recipe("no-such-recipe")
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(Path("no-such-recipe"))  # a Path is always a file
    assert main(["config", "lite-64", "optim.batchsize=3"]) == 2  # one line on stderr, exit status 2


def test_paper_recipes_name_every_pretrained_network_and_test_recipes_say_random():
    for name in ("lite-64", "full-64", "full-256-freeze64", "full-512-freeze64", "text-encoder"):
        r = load_recipe(name)
        assert r.model.discriminator.feature_network.weights == "dino", name  # DINO ViT-S/16 by tag
        assert r.model.generator.text_encoder.pretrained == "openai" and r.loss.clip_pretrained == "openai", name
    tiny = load_recipe("tiny-cpu")
    assert tiny.model.generator.text_encoder.pretrained == "random" and tiny.model.discriminator.feature_network.weights == "random"
