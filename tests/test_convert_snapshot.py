"""``stylegan-t convert-official`` on an original training snapshot (../shared/fixtures/official-snapshot-32):
fidelity of G_ema and G, a training checkpoint that resumes, and refusal of pickles that would run code."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from helpers import shared_fixture_dir

import stylegan_t
from stylegan_t.cli.main import main
from stylegan_t.convert.safe_pickle import Record, SafeUnpickler, safe_load, state_dict
from stylegan_t.convert.snapshot import infer_channels, read_snapshot
from stylegan_t.convert.text_arch import match_open_clip_architecture
from stylegan_t.errors import CheckpointError

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def fixture_dir() -> Path:
    path = shared_fixture_dir("official-snapshot-32", "STYLEGAN_T_SNAPSHOT_FIXTURE")
    if not (path / "network-snapshot-000000.pkl").is_file():
        pytest.skip(f"original snapshot fixture not found at {path} (set STYLEGAN_T_SNAPSHOT_FIXTURE)")
    return path


@pytest.fixture(scope="module")
def snapshot_io(fixture_dir) -> dict:
    return torch.load(fixture_dir / "snapshot_io.pt")


@pytest.fixture(scope="module")
def converted(fixture_dir, tmp_path_factory) -> dict[str, Path]:
    """One conversion through the command: the export and a training checkpoint on the tiny-cpu recipe."""
    out = tmp_path_factory.mktemp("converted")
    rc = main([
        "convert-official", str(fixture_dir / "network-snapshot-000000.pkl"), str(out / "g_ema.safetensors"),
        "--text-arch", f"local-dir:{fixture_dir / 'tiny_clip'}", "--training", str(out / "run.ckpt"), "--recipe", "tiny-cpu",
    ])
    assert rc == 0
    return {"export": out / "g_ema.safetensors", "ckpt": out / "run.ckpt", "recipe": out / "run.recipe.yaml"}


def test_converted_g_ema_reproduces_the_original(converted, snapshot_io):
    G = stylegan_t.load(converted["export"], device="cpu").generator.eval()
    assert (G.config.img_resolution, G.config.channel_base, G.config.channel_max, G.config.num_res_blocks) == (32, 2048, 128, 1)
    with torch.no_grad():
        ws = G.mapping(snapshot_io["z"], snapshot_io["prompts"], truncation_psi=snapshot_io["truncation_psi"])
        img = G.synthesis(snapshot_io["ws"], noise_mode="const")
    assert (ws - snapshot_io["ws"]).abs().max() < 1e-5  # measured 1.8e-7
    assert (img - snapshot_io["img_const"]).abs().max() < 1e-4  # measured 1.5e-6


def test_training_checkpoint_holds_g_that_reproduces_img_const_G(converted, snapshot_io):
    from stylegan_t.persistence import read_generator_and_info

    live, _ = read_generator_and_info(converted["ckpt"], ema=False)
    ema, _ = read_generator_and_info(converted["ckpt"], ema=True)
    z, prompts, psi = snapshot_io["z"], snapshot_io["prompts"], snapshot_io["truncation_psi"]
    with torch.no_grad():
        img = live.eval().synthesis(live.mapping(z, prompts, truncation_psi=psi), noise_mode="const")
        ws = ema.eval().mapping(z, prompts, truncation_psi=psi)
    assert (img - snapshot_io["img_const_G"]).abs().max() < 1e-4  # G differs from G_ema: its own reference
    assert (ws - snapshot_io["ws"]).abs().max() < 1e-5
    ckpt = torch.load(converted["ckpt"], weights_only=True)
    assert ckpt["stylegan_t"]["images_seen"] == 0 and len(ckpt["optimizer_states"]) == 2
    heads = [k for k in ckpt["state_dict"] if k.startswith("discriminator.heads.")]
    dino = [k for k in ckpt["state_dict"] if k.startswith("discriminator.feature_network.")]
    assert len(heads) == 90 and dino == []  # the frozen DINO is stored by reference to the file written beside it
    ref = ckpt["stylegan_t"]["frozen"]["discriminator.feature_network"]
    assert Path(ref["file"]).name == converted["ckpt"].stem + ".dino.safetensors" and len(ref["tensors_sha256"]) == 64
    tower = [k for k in ckpt["state_dict"] if ".mapping.text_encoder." in k]
    assert tower  # the snapshot's own text towers (G's and G_ema's differ) are kept by value


def test_training_checkpoint_resumes_and_trains_a_step(converted, tmp_path):
    from shard_helpers import write_test_shards

    from stylegan_t.training.fit import fit
    from stylegan_t.training.recipe import load_recipe

    shards = write_test_shards(tmp_path / "shards", num_shards=1, samples_per_shard=4, resolution=32, include_bad=False)
    recipe = load_recipe(converted["recipe"], [
        f"data.urls={shards['folder']}", f"run.dir={tmp_path / 'run'}", "trainer.enable_progress_bar=false",
        "trainer.logger=false", "optim.batch_size=2", "optim.micro_batch_size=2", "run.total_kimg=0.002",
        "data.batches_per_epoch=1", "run.sample_every_kimg=1",
    ])
    before = torch.load(converted["ckpt"], weights_only=True)["state_dict"]
    model, _ = fit(recipe, resume=converted["ckpt"])
    after = model.state_dict()
    assert model.images_seen == 2
    key = "generator.synthesis.b32.torgb.weight"
    assert not torch.equal(after[key], before[key])  # G trained from the converted weights
    head = "discriminator.heads.0.cls.parametrizations.weight.original"
    assert not torch.equal(after[head], before[head])  # so did D's heads
    from safetensors.torch import load_file

    dino = load_file(str(converted["ckpt"].with_name(converted["ckpt"].stem + ".dino.safetensors")))
    assert torch.equal(model.discriminator.feature_network.vit.pos_embed, dino["pos_embed"])  # frozen, from its file
    # model.init_from reads the same file: every tensor fits, none new, none unused.
    from stylegan_t.training.init_from import load_init_weights

    report = load_init_weights(model, converted["ckpt"])
    assert report["new"] == [] and report["unused"] == [] and torch.equal(model.state_dict()[key], before[key])


def test_snapshot_without_text_arch_names_the_missing_flag(fixture_dir, tmp_path, capsys):
    rc = main(["convert-official", str(fixture_dir / "network-snapshot-000000.pkl"), str(tmp_path / "g.safetensors")])
    err = capsys.readouterr().err
    assert rc == 2 and "--text-arch" in err and "'width': 64" in err
    assert not (tmp_path / "g.safetensors").exists()


def test_state_dicts_match_the_original_layout(fixture_dir):
    """The records' state dicts have exactly the original's state_dict() keys (official-32 holds one)."""
    snapshot = read_snapshot(fixture_dir / "network-snapshot-000000.pkl")
    reference = fixture_dir.parent / "official-32" / "official_G_state_dict.pt"
    keys = set(state_dict(snapshot.G_ema))
    assert "mapping.clip.model.token_embedding.weight" in keys and not any(".visual." in k for k in keys)
    if reference.is_file():
        assert keys == set(torch.load(reference))
    assert snapshot.training_set_kwargs["resolution"] == 32 and snapshot.kimg == 0


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_pickle_that_would_run_code_is_refused(tmp_path, capsys, payload):
    marker = tmp_path / "marker"
    if payload == "os.system":
        obj = {"G_ema": _RunsCode(marker)}
    elif payload == "builtins.eval":
        obj = {"G": _Reduce(eval, (f"open({str(marker)!r}, 'w')",))}
    else:
        import subprocess
        obj = {"D": _Reduce(subprocess.Popen, (["touch", str(marker)],))}
    path = tmp_path / "network-snapshot-000100.pkl"
    path.write_bytes(pickle.dumps(obj))
    rc = main(["convert-official", str(path), str(tmp_path / "g.safetensors")])
    err = capsys.readouterr().err
    assert rc == 2 and not marker.exists()
    asked = {"os.system": ("os.system", "posix.system"), "builtins.eval": ("builtins.eval",),
             "subprocess.Popen": ("subprocess.Popen",)}[payload]
    assert any(name in err for name in asked) and "refused" in err
    assert not (tmp_path / "g.safetensors").exists()


class _Reduce:
    def __init__(self, fn, args) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def test_unpickler_records_classes_without_importing_them(tmp_path):
    """A class of an unknown package module is refused; allowed ones become inert records, nothing imported."""
    import sys

    # GLOBAL networks.evil.Thing, NEWOBJ(), BUILD({"x": 1}): what pickling a module of the original tree looks like
    data = b"\x80\x02cnetworks.evil\nThing\n)\x81}X\x01\x00\x00\x00xK\x01sb."
    path = tmp_path / "rec.pkl"
    path.write_bytes(data)
    obj = safe_load(path)
    assert isinstance(obj, Record) and obj.qualname == "networks.evil.Thing" and obj.attrs == {"x": 1}
    assert "networks.evil" not in sys.modules
    with pytest.raises(AttributeError):
        obj.anything = 1  # records are read-only
    unpickler = SafeUnpickler(open(path, "rb"))
    with pytest.raises(CheckpointError, match="posix.system"):
        unpickler.find_class("posix", "system")


def test_infer_channels_and_known_text_architectures():
    assert infer_channels({8: 128, 16: 128, 32: 64}) == (2048, 128)
    assert infer_channels({8: 512, 16: 512, 32: 512, 64: 512}) == (32768, 512)  # the lite preset at 64
    with pytest.raises(CheckpointError):
        infer_channels({8: 100, 16: 128})
    vit_l = {"embed_dim": 768, "quick_gelu": True, "pool_type": "argmax", "layer_scale": False, "context_length": 77,
             "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12, "mlp_ratio": 4.0}
    assert match_open_clip_architecture(vit_l) == "ViT-L-14-quickgelu"  # the paper's text encoder
    assert match_open_clip_architecture({**vit_l, "quick_gelu": False}) == "ViT-L-14"
    assert match_open_clip_architecture({**vit_l, "layers": 3}) is None


def test_records_of_pickled_torch_modules_give_their_state_dicts(tmp_path):
    """Plain pickles of torch modules (what the original's dill file holds) read back as records whose
    state dicts equal the modules': parameters, persistent buffers (int64 included), no non-persistent ones."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.utils.spectral_norm(torch.nn.Conv1d(4, 2, 3)))
    net[1].register_buffer("scratch", torch.ones(2), persistent=False)
    net[1](torch.randn(5, 4))  # running statistics away from their init
    path = tmp_path / "modules.pkl"
    path.write_bytes(pickle.dumps({"G_ema": net}))
    record = safe_load(path)["G_ema"]
    assert record.qualname == "torch.nn.modules.container.Sequential"
    ours, theirs = state_dict(record), net.state_dict()
    assert list(ours) == list(theirs) and "1.scratch" not in ours
    assert all(torch.equal(ours[k], theirs[k]) and ours[k].dtype == theirs[k].dtype for k in theirs)
    assert {"2.weight_orig", "2.weight_u", "2.weight_v", "1.num_batches_tracked"} <= set(ours)
