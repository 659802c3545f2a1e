"""The optimisation step's arithmetic (stylegan_t.training.step_math), rule by rule, with exact numbers."""
import math

import pytest
import torch

from stylegan_t.training import step_math
from stylegan_t.training.step_math import (
    default_ema_kimg,
    ema_beta,
    finish_gradients,
    micro_batch_objective,
    step_seed,
)


def test_adversarial_term_is_divided_by_the_micro_batch_size():
    assert micro_batch_objective(torch.tensor(6.0), micro_batch_size=3).item() == pytest.approx(2.0)
    assert micro_batch_objective(torch.tensor(6.0), micro_batch_size=4).item() == pytest.approx(1.5)


def test_clip_term_is_weighted_but_not_divided():
    # 12 / 4 + 0.5 * 5: the CLIP term keeps its weight whatever the micro-batch size.
    out = micro_batch_objective(torch.tensor(12.0), micro_batch_size=4, clip=torch.tensor(5.0), clip_weight=0.5)
    assert out.item() == pytest.approx(3.0 + 2.5)
    unweighted = micro_batch_objective(torch.tensor(12.0), micro_batch_size=4, clip=torch.tensor(5.0), clip_weight=0.0)
    assert unweighted.item() == pytest.approx(3.0)


def test_loss_scaling_reaches_the_gradients():
    w = torch.tensor(2.0, requires_grad=True)
    micro_batch_objective(w * 8.0, micro_batch_size=4, clip=w * 3.0, clip_weight=0.2).backward()  # d/dw = 8 / 4 + 0.2 * 3
    assert w.grad.item() == pytest.approx(2.6)


def test_gradients_are_multiplied_by_the_micro_batch_count():
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([1.0, -2.0, 0.5])
    finish_gradients([p], num_micro_batches=4)
    assert p.grad.tolist() == [4.0, -8.0, 2.0]


def test_non_finite_gradients_become_zero_or_plus_minus_1e5():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([math.nan, math.inf, -math.inf, 3.0])
    q = torch.nn.Parameter(torch.zeros(1))  # no gradient: left alone
    finish_gradients([p, q], num_micro_batches=2)
    assert p.grad.tolist() == [0.0, 1e5, -1e5, 6.0]
    assert q.grad is None


def test_ema_half_life_default_is_batch_times_10_over_32_kimg():
    assert default_ema_kimg(32) == pytest.approx(10.0)
    assert default_ema_kimg(2048) == pytest.approx(640.0)  # the paper's batch
    assert default_ema_kimg(64) == pytest.approx(20.0)


def test_ema_beta_has_the_half_life_in_images():
    beta = ema_beta(batch_size=2048, nimg=10**9, ema_kimg=640)
    assert beta == pytest.approx(0.5 ** (2048 / 640_000))
    # after ema_kimg * 1000 images' worth of steps the old weights' share halves
    assert beta ** (640_000 / 2048) == pytest.approx(0.5)


def test_ema_beta_ramp_up_caps_the_half_life_at_5_percent_of_images_seen():
    assert ema_beta(batch_size=2048, nimg=100_000, ema_kimg=640) == pytest.approx(0.5 ** (2048 / 5_000))
    assert ema_beta(batch_size=32, nimg=0, ema_kimg=10) == pytest.approx(0.0)  # the first step copies G
    assert ema_beta(batch_size=32, nimg=0, ema_kimg=10, rampup=None) == pytest.approx(0.5 ** (32 / 10_000))
    assert ema_beta(batch_size=32, nimg=1000, ema_kimg=10, rampup=0.1) == pytest.approx(0.5 ** (32 / 100))


def test_ema_beta_is_the_one_in_training_ema():
    from stylegan_t.training import ema

    assert ema.ema_beta is step_math.ema_beta


def test_step_seed_depends_on_seed_progress_and_rank():
    base = step_seed(0, images_seen=64, rank=0)
    assert step_seed(0, images_seen=64, rank=0) == base
    others = {step_seed(1, images_seen=64, rank=0), step_seed(0, images_seen=128, rank=0), step_seed(0, images_seen=64, rank=1)}
    assert len({base, *others}) == 4
    assert 0 <= step_seed(2**62, images_seen=10**12, rank=7) < 2**63


def test_training_step_uses_these_functions(tmp_path, monkeypatch):
    """StyleGANT.training_step routes its arithmetic through step_math (spied on, results unchanged) and
    leaves the global RNG as it found it."""
    from shard_helpers import write_test_shards

    from stylegan_t.training import module
    from stylegan_t.training.fit import fit
    from stylegan_t.training.recipe import load_recipe

    calls = {name: [] for name in ("micro_batch_objective", "finish_gradients", "default_ema_kimg", "ema_beta", "step_seed")}
    for name in calls:
        real = getattr(step_math, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls[_name].append((args, kwargs))
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    unchanged = []  # per step: was the global RNG state the same after the step as before it?
    step = module.StyleGANT.training_step

    def checked_step(self, batch, batch_idx):
        state = torch.get_rng_state()
        step(self, batch, batch_idx)
        unchanged.append(torch.equal(torch.get_rng_state(), state))

    monkeypatch.setattr(module.StyleGANT, "training_step", checked_step)
    shards = write_test_shards(tmp_path / "shards", num_shards=2, samples_per_shard=4, include_bad=False)
    recipe = load_recipe("tiny-cpu", [f"data.urls={shards.folder}", f"run.dir={tmp_path / 'run'}", "trainer.logger=false",
                                      "trainer.enable_progress_bar=false", "optim.batch_size=4", "optim.micro_batch_size=2",
                                      "run.total_kimg=0.004"])
    fit(recipe)
    assert unchanged == [True]  # randomness came from the module's own generator, the global RNG untouched
    assert len(calls["step_seed"]) == 1 and calls["step_seed"][0][1] == {"images_seen": 0, "rank": 0}
    assert len(calls["micro_batch_objective"]) == 4  # 2 micro-batches, D and G
    assert [c[1]["micro_batch_size"] for c in calls["micro_batch_objective"]] == [2, 2, 2, 2]
    assert [c[1]["num_micro_batches"] for c in calls["finish_gradients"]] == [2, 2]  # 2 micro-batches, D then G
    assert calls["default_ema_kimg"] == [((4,), {})]
    assert calls["ema_beta"][0][1]["batch_size"] == 4 and calls["ema_beta"][0][1]["ema_kimg"] == pytest.approx(4 * 10 / 32)
