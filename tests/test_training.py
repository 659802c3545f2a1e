"""Training end to end on CPU: tiny fits from test shards, resume, train modes, checkpoints."""
from pathlib import Path

import lightning as L
import pytest
import torch
from shard_helpers import DROPPED_BAD, SKIPPED_BAD, write_test_shards

from stylegan_t.training.fit import fit
from stylegan_t.training.recipe import load_recipe


def tiny_recipe(run_dir: Path, shards: str, *extra: str):
    overrides = [f"data.urls={shards}", f"run.dir={run_dir}", "trainer.enable_progress_bar=false", "trainer.logger=false"]
    return load_recipe("tiny-cpu", overrides + list(extra))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_test_shards(tmp_path_factory.mktemp("shards"), num_shards=4, samples_per_shard=8)


def test_fit_from_shards_with_bad_samples(tmp_path, shards):
    # One exact pass over the data: 35 usable samples in 7 batches of 5; the bad ones skipped and counted.
    recipe = tiny_recipe(
        tmp_path / "run", shards["folder"], "optim.batch_size=5", "optim.micro_batch_size=5",
        "data.batches_per_epoch=7", "data.sample_shuffle=1", "run.total_kimg=0.035", "run.sample_every_kimg=0.02",
    )
    model, trainer = fit(recipe)
    assert model.images_seen == 35 and trainer.current_epoch == 1
    counts = model.data_counts()
    assert counts.skipped == len(SKIPPED_BAD) and counts.dropped == len(DROPPED_BAD)
    run = tmp_path / "run"
    assert (run / "recipe.yaml").is_file()
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"epoch0000.ckpt", "last.ckpt"}
    assert len(list((run / "samples").glob("*.png"))) >= 2
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)  # plain data: no pickled classes
    frozen = ckpt["stylegan_t"].pop("frozen")  # frozen networks by reference: random ones by their tensors' sha256
    assert ckpt["stylegan_t"] == {"kind": "stylegan_t.training.StyleGANT", "module": "stylegan_t.training:StyleGANT",
                                  "images_seen": 35}  # skip / drop counts: the datamodule's own state
    assert set(frozen) == {"generator.mapping.text_encoder", "generator_ema.module.mapping.text_encoder", "discriminator.feature_network"}
    assert not any(k.startswith(tuple(frozen)) for k in ckpt["state_dict"])  # no frozen-network tensors
    assert ckpt["hyper_parameters"]["recipe"]["model"]["generator"]["preset"] == "tiny"
    assert len(ckpt["optimizer_states"]) == 2
    prefixes = {k.split(".")[0] for k in ckpt["state_dict"]}
    assert {"generator", "generator_ema", "discriminator"} <= prefixes
    # The EMA moved away from its initial copy, and G's weights differ from it.
    g = ckpt["state_dict"]["generator.synthesis.b16.torgb.weight"]
    assert not torch.equal(g, ckpt["state_dict"]["generator_ema.module.synthesis.b16.torgb.weight"])


def test_frozen_networks_get_no_optimizer_state(tmp_path, shards):
    recipe = tiny_recipe(tmp_path / "run", shards["folder"], "run.total_kimg=0.008")
    model, _ = fit(recipe)
    d_opt, g_opt = model.optimizers()
    in_opt = {id(p) for opt in (d_opt, g_opt) for group in opt.param_groups for p in group["params"]}
    frozen = list(model.generator.text_encoder.parameters()) + list(model.discriminator.feature_network.parameters())
    frozen += list(model.generator_ema.parameters())
    assert not any(id(p) in in_opt for p in frozen)
    assert all(p.grad is None for p in frozen)
    assert {id(p) for p in d_opt.param_groups[0]["params"]} == {id(p) for p in model.discriminator.heads.parameters()}


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, shards):
    common = ("data.batches_per_epoch=2", "optim.batch_size=4", "optim.micro_batch_size=2")
    full, _ = fit(tiny_recipe(tmp_path / "full", shards["folder"], *common, "run.total_kimg=0.032"))
    part, _ = fit(tiny_recipe(tmp_path / "part", shards["folder"], *common, "run.total_kimg=0.016"))
    assert part.images_seen == 16
    resumed, trainer = fit(
        tiny_recipe(tmp_path / "part", shards["folder"], *common, "run.total_kimg=0.032"),
        resume=tmp_path / "part" / "checkpoints" / "last.ckpt",
    )
    assert resumed.images_seen == full.images_seen == 32
    a, b = full.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == []
    assert not torch.equal(a["generator.synthesis.b8.torgb.weight"], part.state_dict()["generator.synthesis.b8.torgb.weight"])


def test_run_ending_between_checkpoints_keeps_its_last_steps(tmp_path, shards):
    # 12 images per epoch, a checkpoint every 5 epochs: the 20-image run ends mid-epoch, far from any interval.
    common = ("data.batches_per_epoch=3", "optim.batch_size=4", "optim.micro_batch_size=4", "run.checkpoint_every_epochs=5")
    part, _ = fit(tiny_recipe(tmp_path / "part", shards["folder"], *common, "run.total_kimg=0.020"))
    last = tmp_path / "part" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["stylegan_t"]["images_seen"] == part.images_seen == 20
    a = part.state_dict()
    assert all(torch.equal(a[k].cpu(), v) for k, v in saved["state_dict"].items())  # the final weights, not older ones
    resumed, _ = fit(tiny_recipe(tmp_path / "part", shards["folder"], *common, "run.total_kimg=0.036"), resume=last)
    assert resumed.images_seen == 36
    assert torch.load(last, weights_only=True)["stylegan_t"]["images_seen"] == 36  # overwritten, no last-v1.ckpt
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]


def test_progressive_growing_freeze64(tmp_path, shards):
    low, _ = fit(tiny_recipe(tmp_path / "low", shards["folder"], "run.total_kimg=0.008"))
    ckpt = tmp_path / "low" / "checkpoints" / "last.ckpt"
    # 16 -> 128: blocks 8..16 come from the checkpoint; 32..128 are new; only blocks > 64 and ToRGBs train.
    recipe = tiny_recipe(
        tmp_path / "high", shards["folder"], "model.generator.img_resolution=128", "model.train_mode=freeze64",
        f"model.init_from={ckpt}", "run.total_kimg=0.008", "model.discriminator.feature_network.input_size=32",
    )
    high, _ = fit(recipe)
    low_g, high_g = low.generator.state_dict(), high.generator.state_dict()
    assert torch.equal(high_g["synthesis.b16.convs.0.weight"], low_g["synthesis.b16.convs.0.weight"])  # frozen
    assert torch.equal(high_g["mapping.mlp.fc0.weight"], low_g["mapping.mlp.fc0.weight"])
    assert not torch.equal(high_g["synthesis.b16.torgb.weight"], low_g["synthesis.b16.torgb.weight"])  # trains
    trainable = {n for n, p in high.generator.named_parameters() if p.requires_grad}
    assert any(n.startswith("synthesis.b128.") for n in trainable)
    assert not any(n.startswith(("synthesis.b32.conv", "synthesis.b64.conv", "mapping.")) for n in trainable)


def test_text_encoder_phase_trains_only_the_text_encoder(tmp_path, shards):
    recipe = tiny_recipe(tmp_path / "te", shards["folder"], "model.train_mode=text_encoder", "optim.g_lr=0.01", "run.total_kimg=0.008")
    model, _ = fit(recipe)
    L.seed_everything(recipe.run.seed, verbose=False)  # as fit() does: same initial weights
    init = type(model)(recipe)
    g, g0 = model.generator.state_dict(), init.generator.state_dict()
    te_keys = [k for k in g if k.startswith("mapping.text_encoder.")]
    assert any(not torch.equal(g[k], g0[k]) for k in te_keys)
    assert all(torch.equal(g[k], g0[k]) for k in g if k.startswith("synthesis.") and "noise_const" not in k)


def test_init_from_rejects_other_checkpoints(tmp_path, shards):
    torch.save({"state_dict": {"x": torch.zeros(1)}}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not a stylegan_t training checkpoint"):
        fit(tiny_recipe(tmp_path / "run", shards["folder"], f"model.init_from={tmp_path / 'other.ckpt'}"))
    with pytest.raises(FileNotFoundError, match="init_from"):
        fit(tiny_recipe(tmp_path / "run", shards["folder"], f"model.init_from={tmp_path / 'missing.ckpt'}"))


def test_periodic_metrics_during_training(tmp_path, shards):
    from stylegan_t.metrics import FID
    from stylegan_t.training.eval_callback import PeriodicMetrics

    class TinyFeatures(torch.nn.Module):  # FID extractors receive uint8 images
        def __init__(self):
            super().__init__()
            nn = torch.nn
            self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())

        def forward(self, x):
            return self.net(x.float() / 127.5 - 1)

    torch.manual_seed(0)
    fid = FID(TinyFeatures(), num_features=8, reset_real_features=False)
    callback = PeriodicMetrics(every_kimg=0.008, num_samples=8, fid=fid, out_file=tmp_path / "metrics.jsonl")
    recipe = tiny_recipe(tmp_path / "run", shards["folder"], "run.total_kimg=0.024")
    fit(recipe, extra_callbacks=[callback])
    assert len(callback.captions) == 8 and fid.num_real == 8
    assert [round(r["kimg"], 3) for r in callback.history] == [0.008, 0.016, 0.024]
    assert all(r["fid"] > 0 for r in callback.history)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_eval_section_needs_the_inception_file(tmp_path, shards):
    from stylegan_t.utils.local_files import MissingWeightsError

    recipe = tiny_recipe(tmp_path / "run", shards["folder"], "eval.every_kimg=1", f"eval.inception_weights={tmp_path / 'nope.pth'}")
    with pytest.raises((MissingWeightsError, ModuleNotFoundError)):
        fit(recipe)


def test_mismatch_term_adds_real_images_under_wrong_captions(tmp_path, shards):
    from stylegan_t.losses import d_hinge_loss, d_mismatch_loss, mismatched_conditions
    from stylegan_t.training.module import StyleGANT

    model = StyleGANT(tiny_recipe(tmp_path, shards["folder"], "loss.mismatch_weight=0.5"))
    model.discriminator.eval()  # no augmentation or power iteration: the three passes see the same D
    torch.manual_seed(0)
    real, fake = torch.rand(4, 3, 16, 16) * 2 - 1, torch.rand(4, 3, 16, 16) * 2 - 1
    c = torch.nn.functional.normalize(torch.randn(4, model.generator.c_dim), dim=-1)
    c[2] = c[1]  # two samples with the same caption
    with torch.no_grad():
        loss = model.discriminator_loss(real, fake, c, sigma=0.0)
        wrong, keep = mismatched_conditions(c)
        D = model.discriminator
        expected = d_hinge_loss(D(real, c), D(fake, c)) + 0.5 * d_mismatch_loss(D(real, wrong), keep)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert keep.tolist() == [True, True, False, True]  # the same caption is no negative


def test_clip_guidance_changes_the_generator_update_and_stays_frozen(tmp_path, shards, tiny_clip):
    # One iteration from the same seed with and without the CLIP term: only G's update differs.
    common = ("run.total_kimg=0.008", "run.sample_every_kimg=1", f"loss.clip_model={tiny_clip}")
    plain, _ = fit(tiny_recipe(tmp_path / "plain", shards["folder"], *common))
    guided, trainer = fit(tiny_recipe(tmp_path / "guided", shards["folder"], *common, "loss.clip_weight=0.5"))
    assert plain.clip_guidance is None and guided.clip_guidance is not None
    assert trainer.callback_metrics["loss_clip"] > 0
    clip_params = list(guided.clip_guidance.parameters())
    assert clip_params and all(not p.requires_grad and p.grad is None for p in clip_params)
    in_opt = {id(p) for opt in guided.optimizers() for group in opt.param_groups for p in group["params"]}
    assert not any(id(p) in in_opt for p in clip_params)
    g_plain, g_guided = plain.generator.state_dict(), guided.generator.state_dict()
    d_plain, d_guided = plain.discriminator.state_dict(), guided.discriminator.state_dict()
    assert all(torch.equal(d_plain[k], d_guided[k]) for k in d_plain)  # the D step comes first: identical
    assert not all(torch.equal(g_plain[k], g_guided[k]) for k in g_plain)


def test_extra_feature_network_trains_its_heads_and_resumes(tmp_path, shards):
    """``model.discriminator.extra_feature_network``: its heads train with the others, both networks stay frozen
    and out of the optimizer, the checkpoint holds them by value and a resumed run loads strictly."""
    key = "model.discriminator.extra_feature_network"
    extra = (f"{key}.kind=conv", f"{key}.weights=random", f"{key}.conv_widths=[8,16]", f"{key}.seed=5",
             "data.batches_per_epoch=2", "optim.batch_size=4", "optim.micro_batch_size=4")
    model, _ = fit(tiny_recipe(tmp_path / "run", shards["folder"], *extra, "run.total_kimg=0.008"))
    D = model.discriminator
    assert list(D.heads) == ["0", "1", "x0", "x1"]
    d_opt, _ = model.optimizers()
    assert {id(p) for p in d_opt.param_groups[0]["params"]} == {id(p) for p in D.heads.parameters()}
    assert not any(p.requires_grad for p in D.feature_network.parameters())
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert "discriminator.feature_network" not in ckpt["stylegan_t"]["frozen"]
    stored = {k.removeprefix("discriminator.feature_network.second.") for k in ckpt["state_dict"]
              if k.startswith("discriminator.feature_network.second.")}
    assert stored == set(D.feature_network.second.state_dict())
    head_before = {k: v.clone() for k, v in D.heads["x1"].state_dict().items()}
    resumed, _ = fit(tiny_recipe(tmp_path / "run", shards["folder"], *extra, "run.total_kimg=0.016"),
                     resume=tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert resumed.images_seen == 16
    after = resumed.discriminator.heads["x1"].state_dict()
    assert any(not torch.equal(after[k], v) for k, v in head_before.items())  # the extra network's head trains


def test_reuse_fakes_scores_one_generator_pass_in_both_steps(tmp_path, shards, monkeypatch):
    # optim.reuse_fakes: the G step backpropagates through the very images the D step scored (one G forward per
    # micro-batch); the D step scores the same fakes as without it (same latents), the G step those fakes again.
    from stylegan_t.models.generator import Generator
    from stylegan_t.training.module import StyleGANT

    seen: dict[str, list[torch.Tensor]] = {"d": [], "g": []}
    d_loss, g_loss, g_forward = StyleGANT.discriminator_loss, StyleGANT.generator_loss, Generator.forward
    calls = []
    def recording_d_loss(self, real, fake, *rest):
        seen["d"].append(fake.detach().clone())
        return d_loss(self, real, fake, *rest)

    def recording_g_loss(self, fake, *rest):
        seen["g"].append(fake.detach().clone())
        return g_loss(self, fake, *rest)

    monkeypatch.setattr(StyleGANT, "discriminator_loss", recording_d_loss)
    monkeypatch.setattr(StyleGANT, "generator_loss", recording_g_loss)
    monkeypatch.setattr(Generator, "forward", lambda self, *a, **k: calls.append(torch.is_grad_enabled()) or g_forward(self, *a, **k))
    common = ("optim.batch_size=4", "optim.micro_batch_size=2", "run.total_kimg=0.004", "run.sample_every_kimg=1")
    runs = {}
    for name, reuse in (("fresh", "false"), ("reused", "true")):
        seen["d"].clear(), seen["g"].clear(), calls.clear()
        model, _ = fit(tiny_recipe(tmp_path / name, shards["folder"], *common, f"optim.reuse_fakes={reuse}"))
        runs[name] = (model, list(seen["d"]), list(seen["g"]), list(calls))
    fresh, reused = runs["fresh"], runs["reused"]
    assert len(reused[1]) == len(reused[2]) == 2  # two micro-batches in each step
    assert all(torch.equal(d, g) for d, g in zip(reused[1], reused[2]))
    assert not any(torch.equal(d, g) for d, g in zip(fresh[1], fresh[2]))
    assert all(torch.equal(a, b) for a, b in zip(fresh[1], reused[1]))  # the D step's fakes: same latents either way
    # G's forward passes, with or without a graph (the sample grids after training follow, without one)
    assert fresh[3][:4] == [False, False, True, True] and reused[3][:3] == [True, True, False]
    g_a, g_b = fresh[0].generator.state_dict(), reused[0].generator.state_dict()
    assert not all(torch.equal(g_a[k], g_b[k]) for k in g_a)


def test_fit_reports_the_whole_runs_images_per_second(tmp_path, shards, capsys):
    model, _ = fit(tiny_recipe(tmp_path, shards["folder"], "run.total_kimg=0.008", "run.sample_every_kimg=1"))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Trained ")]
    assert len(lines) == 1 and lines[0].startswith(f"Trained {model.images_seen / 1000:.1f} kimg in ")
    assert lines[0].endswith("images/s over the whole run")
