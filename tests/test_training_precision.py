"""``trainer.precision: auto``: the faster of fp32 and bf16-mixed for this model on this device, measured on a real
G+D forward and backward (a fake measurement stands in for the device's timings), fp32 unless bf16 is clearly
faster, and a fit that starts with ``auto`` trains in the choice and says which it was."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylegan_t import precision as precision_module  # noqa: E402
from stylegan_t.errors import RecipeError  # noqa: E402
from stylegan_t.precision import PrecisionChoice  # noqa: E402
from stylegan_t.training import auto_precision  # noqa: E402
from stylegan_t.training.fit import fit  # noqa: E402
from stylegan_t.training.module import StyleGANT  # noqa: E402
from stylegan_t.training.recipe import load_recipe  # noqa: E402

TINY = ["model.generator.img_resolution=16", "optim.batch_size=4", "optim.micro_batch_size=2"]


@pytest.fixture()
def bf16_cpu(monkeypatch):
    """This CPU as one with bf16 instructions (AMX), whatever the test machine has: the choice is then measured."""
    monkeypatch.setattr(precision_module, "bf16_units", lambda device: "AMX")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from shard_helpers import write_test_shards

    return write_test_shards(tmp_path_factory.mktemp("shards"), num_shards=2, samples_per_shard=8, include_bad=False)


def fake_measure(chosen: str, seen: list):
    """Runs the real step in both precisions (recording what it touched) and reports ``chosen`` as faster."""

    def measure(run, **kwargs):
        for precision in ("fp32", "bf16"):
            run(precision)
            seen.append(sum(p.grad is not None for p in module_params[0]))
        return PrecisionChoice(chosen, fp32_s=0.040, bf16_s=0.020 if chosen == "bf16" else 0.060)

    module_params: list = [None]
    return measure, module_params


@pytest.mark.parametrize("chosen,expected", [("fp32", "32-true"), ("bf16", "bf16-mixed")])
def test_auto_measures_the_real_step_and_resolves(monkeypatch, bf16_cpu, chosen, expected):
    recipe = load_recipe("tiny-cpu", TINY + ["trainer.precision=auto", "trainer.accelerator=cpu"])
    module = StyleGANT(recipe)
    seen: list = []
    measure, params = fake_measure(chosen, seen)
    params[0] = [p for p in module.parameters() if p.requires_grad]
    monkeypatch.setattr(auto_precision, "measure_precision", measure)
    weights = {k: v.clone() for k, v in module.state_dict().items()}
    resolved, line = auto_precision.resolve_training_precision(recipe, lambda: module)
    assert resolved.trainer.precision == expected
    assert f"auto -> {expected}" in line and "ms" in line
    assert seen and all(n > 0 for n in seen)  # the measurement ran G and D backward: gradients existed
    assert all(p.grad is None for p in module.parameters())  # and were cleared afterwards
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in weights.items())  # no weight moved
    assert recipe.trainer.precision == "auto"  # the caller's recipe is not changed


def test_fixed_precision_and_several_cpu_processes_are_not_measured(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("measured")

    monkeypatch.setattr(auto_precision, "measure_precision", never)
    fixed = load_recipe("tiny-cpu", TINY + ["trainer.precision=bf16-mixed"])
    assert auto_precision.resolve_training_precision(fixed, never) == (fixed, "")
    auto = load_recipe("tiny-cpu", TINY + ["trainer.precision=auto", "trainer.accelerator=cpu"])
    resolved, line = auto_precision.resolve_training_precision(auto, never, world_size=2)
    assert resolved.trainer.precision == "32-true" and "2 CPU processes" in line


def test_a_cpu_without_bf16_instructions_trains_in_fp32_unmeasured(monkeypatch):
    monkeypatch.setattr(precision_module, "bf16_units", lambda device: None)
    monkeypatch.setattr(auto_precision, "measure_precision", lambda *a, **k: pytest.fail("measured"))
    auto = load_recipe("tiny-cpu", TINY + ["trainer.precision=auto", "trainer.accelerator=cpu"])
    resolved, line = auto_precision.resolve_training_precision(auto, lambda: pytest.fail("built"))
    assert resolved.trainer.precision == "32-true" and "no bf16 instructions" in line


def test_unknown_precision_is_one_line():
    with pytest.raises(RecipeError, match="trainer.precision"):
        load_recipe("tiny-cpu", ["trainer.precision=fastest"])


def test_fit_with_auto_trains_in_the_choice(monkeypatch, bf16_cpu, tmp_path, shards):
    monkeypatch.setattr(auto_precision, "measure_precision", lambda run, **kw: PrecisionChoice("bf16", 0.04, 0.01))
    recipe = load_recipe("tiny-cpu", TINY + [
        f"data.urls={shards['folder']}", f"run.dir={tmp_path}", "trainer.enable_progress_bar=false", "trainer.logger=false",
        "data.batches_per_epoch=1", "run.total_kimg=0.004", "run.sample_every_kimg=1000", "trainer.precision=auto",
        "trainer.accelerator=cpu",
    ])
    model, trainer = fit(recipe)
    assert str(trainer.precision) == "bf16-mixed"
    assert model.images_seen == 4
    assert "precision: bf16-mixed" in (tmp_path / "recipe.yaml").read_text()  # the run folder records the choice
    # bf16-mixed holds the frozen feature network in bf16 (configure_model), as a run that named it would
    assert next(model.discriminator.feature_network.parameters()).dtype == torch.bfloat16
