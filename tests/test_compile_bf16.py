"""``run.compile`` and ``bf16-mixed`` on CPU: same numbers as eager / float32 within stated tolerances, same keys.

The compile tests use the ``aot_eager`` backend (Dynamo capture + AOT autograd, no code generation): it checks
what can break with compile (graph capture, DDP / FSDP2 hooks, toggling, checkpoints) in seconds; inductor on
this CPU takes minutes for the tiny model (``STYLEGAN_T_SLOW_TESTS=1`` runs the inductor form).
Run as a script (``python tests/test_compile_bf16.py OUT SHARDS STRATEGY``) it is the 2-process launcher.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stylegan_t.training.fit import fit, release_process_group  # noqa: E402
from stylegan_t.training.module import StyleGANT  # noqa: E402
from stylegan_t.training.recipe import load_recipe  # noqa: E402

SLOW = pytest.mark.skipif(not os.environ.get("STYLEGAN_T_SLOW_TESTS"), reason="slow (minutes): set STYLEGAN_T_SLOW_TESTS=1")
#: bf16-mixed vs float32 after 2 iterations of the tiny model: losses (measured < 0.05 apart), and weights:
#: Adam (beta1 0, beta2 0.99) moves a weight by at most lr (step 1) + sqrt(2) lr (step 2) whatever the gradient,
#: so two runs can differ by at most 2 (1 + sqrt 2) lr where bf16 flips an update's sign (measured 0.0096)
BF16_LOSS_ATOL = 0.15
BF16_WEIGHT_ATOL = 2 * (1 + 2**0.5) * 0.002 + 1e-4
BF16_WEIGHT_MEAN_ATOL = 1e-3


def tiny_recipe(run_dir: Path, shards: str, *extra: str):
    overrides = [
        f"data.urls={shards}", f"run.dir={run_dir}", "trainer.enable_progress_bar=false", "trainer.logger=false",
        "data.batches_per_epoch=2", "optim.batch_size=4", "optim.micro_batch_size=2", "run.total_kimg=0.008",
        "run.sample_every_kimg=1000",
    ]
    return load_recipe("tiny-cpu", overrides + list(extra))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from shard_helpers import write_test_shards

    return write_test_shards(tmp_path_factory.mktemp("shards"), num_shards=4, samples_per_shard=8, include_bad=False)


@pytest.fixture()
def aot_eager():
    original = StyleGANT.compile_networks
    StyleGANT.compile_networks = functools.partialmethod(original, backend="aot_eager")
    yield
    StyleGANT.compile_networks = original


def _compiled_modules(model: StyleGANT) -> list[torch.nn.Module]:
    return [m for m in model.modules() if getattr(m, "_compiled_call_impl", None) is not None]


def test_compiled_networks_match_eager_and_keep_state_dict_keys(tmp_path, single_thread):
    recipe = tiny_recipe(tmp_path, "unused")
    model = StyleGANT(recipe)
    keys = list(model.state_dict())
    G, D = model.generator, model.discriminator
    torch.manual_seed(1)
    z, c = torch.randn(2, G.z_dim), torch.nn.functional.normalize(torch.randn(2, G.c_dim), dim=1)
    D.eval()  # no random augmentation: eager and compiled see the same input

    def run() -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        for p in D.parameters():
            p.grad = None
        img = G(z, c, noise_mode="const", fused_modconv=False)
        logits = D(img, c)
        logits.square().mean().backward()
        return img.detach(), logits.detach(), [p.grad.clone() for p in D.heads.parameters() if p.grad is not None]

    ref = run()
    model.compile_networks(backend="eager")  # Dynamo capture only: seconds, not minutes
    assert len(_compiled_modules(model)) == 3 + len(D.heads)
    out = run()
    assert list(model.state_dict()) == keys and not any("_orig_mod" in k for k in keys)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[1], ref[1], rtol=1e-5, atol=1e-5)
    assert len(out[2]) == len(ref[2]) > 0
    for a, b in zip(out[2], ref[2]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_compiled_fit_resumes_and_exports(tmp_path, shards, aot_eager, single_thread):
    from stylegan_t.export import export_generator
    from stylegan_t.persistence import read_generator_and_info

    one = ("data.batches_per_epoch=1",)  # resume at an epoch boundary: the same data as the uninterrupted run
    eager, _ = fit(tiny_recipe(tmp_path / "eager", shards["folder"], *one, "run.total_kimg=0.008"))
    part, _ = fit(tiny_recipe(tmp_path / "run", shards["folder"], *one, "run.compile=true", "run.total_kimg=0.004"))
    assert _compiled_modules(part)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    assert state.keys() == eager.state_dict().keys()
    resumed, _ = fit(tiny_recipe(tmp_path / "run", shards["folder"], *one, "run.compile=true", "run.total_kimg=0.008"), resume=last)
    assert resumed.images_seen == eager.images_seen == 8
    a, b = eager.state_dict(), resumed.state_dict()
    # compiled + resumed == eager uninterrupted up to float reassociation (one iteration matches to 2e-6), which
    # Adam (beta1 = 0) turns into whole-step differences where a gradient is ~0: the same bounds as for bf16
    names = [f"generator.{n}" for n, p in eager.generator.named_parameters() if p.requires_grad]
    diffs = torch.cat([(a[k] - b[k]).abs().flatten() for k in names])
    assert float(diffs.max()) < BF16_WEIGHT_ATOL and float(diffs.mean()) < BF16_WEIGHT_MEAN_ATOL, (diffs.max(), diffs.mean())
    export_generator(last, tmp_path / "g.safetensors")
    G, _ = read_generator_and_info(tmp_path / "g.safetensors")
    torch.testing.assert_close(G.synthesis.b16.torgb.weight, resumed.generator_ema.module.synthesis.b16.torgb.weight)


def test_parameter_gradients_keep_parameter_strides(tmp_path, single_thread):
    """What DDP checks ("Grad strides do not match bucket view strides"): every gradient laid out like its
    parameter. The ToRGB 1x1 conv weight used to get a channels-last-strided gradient from conv2d."""
    model = StyleGANT(tiny_recipe(tmp_path, "unused"))
    G, D = model.generator, model.discriminator
    z, c = torch.randn(8, G.z_dim), torch.nn.functional.normalize(torch.randn(8, G.c_dim), dim=1)
    D(G(z, c), c).mean().backward()
    params = [(n, p) for n, p in model.named_parameters() if p.grad is not None]
    assert len(params) > 50
    assert [(n, p.stride(), p.grad.stride()) for n, p in params if p.grad.stride() != p.stride()] == []


def _losses(model: StyleGANT) -> dict[str, float]:
    return {k: float(v) for k, v in model.trainer.callback_metrics.items() if k.startswith("loss_")}


def test_bf16_mixed_training_tracks_float32(tmp_path, shards, single_thread):
    fp32, _ = fit(tiny_recipe(tmp_path / "fp32", shards["folder"]))
    bf16, _ = fit(tiny_recipe(tmp_path / "bf16", shards["folder"], "trainer.precision=bf16-mixed"))
    la, lb = _losses(fp32), _losses(bf16)
    assert la.keys() == lb.keys() and {"loss_D", "loss_G"} <= la.keys()
    for k in la:
        assert abs(la[k] - lb[k]) < BF16_LOSS_ATOL, (k, la[k], lb[k])
    a, b = fp32.state_dict(), bf16.state_dict()
    assert a.keys() == b.keys()
    moved = 0
    worst = 0.0
    for k in (f"generator.{name}" for name, p in fp32.generator.named_parameters() if p.requires_grad):
        assert b[k].dtype == torch.float32, k  # trained weights stay float32 under bf16-mixed
        diff = float((a[k] - b[k]).abs().max())
        worst = max(worst, diff)
        moved += int(diff > 0)
    assert worst < BF16_WEIGHT_ATOL, worst
    mean = float(torch.cat([(a[k] - b[k]).abs().flatten() for k in a if k.startswith("generator.") and b[k].is_floating_point()
                            and "x_avg" not in k]).mean())
    assert mean < BF16_WEIGHT_MEAN_ATOL, mean  # on average far below one step: most updates agree
    assert moved > 0  # bf16 really ran: some weights differ
    # the frozen feature network is held in bf16, the trainable heads in float32
    assert {p.dtype for p in bf16.discriminator.feature_network.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in bf16.discriminator.heads.parameters()} == {torch.float32}
    assert {p.dtype for p in fp32.discriminator.feature_network.parameters()} == {torch.float32}


def test_bf16_frozen_feature_network_matches_float32(tmp_path, single_thread):
    model = StyleGANT(tiny_recipe(tmp_path, "unused"))
    net = model.discriminator.feature_network
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = {k: v.float() for k, v in net(x).items()}
        model.cast_frozen_networks(torch.bfloat16)
        out = {k: v.float() for k, v in net(x).items()}
    assert [p.dtype for p in net.parameters()] and all(p.dtype == torch.bfloat16 for p in net.parameters())
    for k in ref:
        err = float((out[k] - ref[k]).abs().mean() / ref[k].abs().mean())
        assert err < 2e-2, (k, err)  # relative mean error of bf16 weights on top of bf16 autocast


def _run_two_processes(tmp_path: Path, shards: dict, strategy: str, backend: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, __file__, str(tmp_path), shards["folder"], strategy, backend],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Grad strides do not match bucket view strides" not in proc.stderr
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_process_compiled_bf16_training(tmp_path, shards, strategy):
    ranks = _run_two_processes(tmp_path, shards, strategy, "aot_eager")
    assert ranks[0]["compiled"] > 0 and ranks[0]["images_seen"] == ranks[1]["images_seen"] == 16
    assert ranks[0]["weights"].keys() == ranks[1]["weights"].keys() and len(ranks[0]["weights"]) > 100
    assert ranks[0]["weights"] == ranks[1]["weights"]  # ranks identical (gathered under FSDP2)
    assert not any("_orig_mod" in k for k in ranks[0]["weights"])


@SLOW
@pytest.mark.slow
def test_two_process_inductor_ddp(tmp_path, shards):
    ranks = _run_two_processes(tmp_path, shards, "ddp", "inductor")
    assert ranks[0]["weights"] == ranks[1]["weights"]


def _launch(out: Path, shards: str, strategy: str, backend: str) -> None:
    """Rank body: compiled bf16-mixed fit on 2 gloo processes; writes the compiled count and a weight digest."""
    import lightning as L

    class Recorder(L.Callback):
        def on_train_end(self, trainer, module):
            weights = {}
            # parameters only: the truncation average ``mapping.x_avg`` is a per-rank buffer (rank 0's is saved)
            for name, tensor in module.named_parameters():
                if hasattr(tensor, "full_tensor"):
                    tensor = tensor.full_tensor()
                weights[name] = float(tensor.detach().double().sum())
            info = {"compiled": len(_compiled_modules(module)), "images_seen": module.images_seen, "weights": weights}
            (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(info))

    original = StyleGANT.compile_networks
    StyleGANT.compile_networks = functools.partialmethod(original, backend=backend)
    recipe = tiny_recipe(
        out / "run", shards, "trainer.devices=2", f"trainer.strategy={strategy}", "optim.batch_size=8",
        "run.total_kimg=0.016", "run.compile=true", "trainer.precision=bf16-mixed",
    )
    torch.set_num_threads(1)
    fit(recipe, extra_callbacks=[Recorder()])
    release_process_group()


if __name__ == "__main__":
    _launch(Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])


def test_compiled_fit_keeps_every_call_compiled(tmp_path, shards, single_thread):
    """Each D head is its own class and is called three ways per iteration (fakes, reals under two captions,
    G's step): with three heads that is past torch's default of 8 compiled variants per function, after which
    calls would run uncompiled. The training step raises the limit; the heads' variants stay under it."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    from stylegan_t.models.discriminator.heads import DiscHead
    from stylegan_t.training.module import COMPILED_VARIANTS

    torch._dynamo.reset()
    original = StyleGANT.compile_networks
    StyleGANT.compile_networks = functools.partialmethod(original, backend="eager")  # Dynamo capture only
    try:
        model, _ = fit(tiny_recipe(tmp_path / "run", shards["folder"], "run.compile=true", "run.total_kimg=0.012",
                                   "loss.mismatch_weight=1", "model.discriminator.feature_network.conv_widths=[8,8,8]"))
    finally:
        StyleGANT.compile_networks = original
    variants = len(_debug_get_cache_entry_list(DiscHead.forward.__code__))
    assert len(model.discriminator.heads) == 3
    assert 8 < variants < COMPILED_VARIANTS
    torch._dynamo.reset()
