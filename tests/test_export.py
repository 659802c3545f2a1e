"""Exports (safetensors + JSON config), training-checkpoint loading and clear errors for bad files (issue 5)."""
import copy
import json
import struct

import pytest
import torch
from helpers import tiny_generator

import stylegan_t
from stylegan_t.export import (
    FORMAT,
    CheckpointLoadError,
    CheckpointNotFoundError,
    _dedupe_for_safetensors,
    export_generator,
    read_export_metadata,
)
from stylegan_t.models import Generator, GeneratorConfig, TextEncoderConfig
from stylegan_t.persistence import read_generator
from stylegan_t.pipeline import StyleGANTPipeline

PROMPTS = ["a blue sphere, pixel art"]


def make_generator(tiny_clip: str, seed: int = 0) -> Generator:
    return tiny_generator(TextEncoderConfig(model=tiny_clip), seed)


def write_training_checkpoint(path, live: Generator, ema: Generator, *, images_seen: int = 12_000) -> None:
    """The StyleGANT checkpoint contract, written by hand (no training code runs)."""
    state = {f"generator.{k}": v for k, v in live.state_dict().items()}
    state.update({f"generator_ema.module.{k}": v for k, v in ema.state_dict().items()})
    state["discriminator.heads.0.main.0.weight"] = torch.randn(8, 8, 1)
    torch.save(
        {
            "epoch": 0,
            "global_step": 10,
            "pytorch-lightning_version": "2.6.6",
            "state_dict": state,
            "hyper_parameters": {"recipe": {"model": {"generator": live.config.to_dict(), "train_mode": "all"}}},
            "stylegan_t": {"kind": "stylegan_t.training.StyleGANT", "images_seen": images_seen},
        },
        path,
    )


@pytest.fixture(scope="module")
def generators(tiny_clip):
    live, ema = make_generator(tiny_clip, 0), make_generator(tiny_clip, 1)  # EMA differs from the live G
    return live, ema


@pytest.fixture(scope="module")
def ckpt_path(generators, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "last.ckpt"
    write_training_checkpoint(path, *generators)
    return path


def images(G_or_pipe, seeds=(0, 1)) -> torch.Tensor:
    pipe = G_or_pipe if isinstance(G_or_pipe, StyleGANTPipeline) else StyleGANTPipeline(G_or_pipe, device="cpu")
    return pipe(PROMPTS, seeds=list(seeds), truncation_psi=0.7, output_type="tensor", batch_size=2)


def test_export_then_load_reproduces_images_exactly(generators, tmp_path):
    G = generators[0]
    path = export_generator(G, tmp_path / "g.safetensors")
    meta = read_export_metadata(path)
    assert meta["format"] == FORMAT and meta["format_version"] == 2
    # The frozen text tower is stored by reference (spec + checksum of its file), not as tensors.
    assert set(meta["frozen"]) == {"mapping.text_encoder"} and len(meta["frozen"]["mapping.text_encoder"]["tensors_sha256"]) == 64
    assert GeneratorConfig.from_dict(meta["generator_config"]) == G.config
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])  # plain safetensors: a JSON header, then raw tensor bytes (no pickle)
    assert header["__metadata__"]["format"] == FORMAT
    G2 = read_generator(path)
    assert not G2.training and all(torch.equal(v, G2.state_dict()[k]) for k, v in G.state_dict().items())
    pipe = stylegan_t.load(path, device="cpu")
    assert pipe.info["kind"] == "export"
    assert torch.equal(images(G), images(pipe))


def test_checkpoint_export_load_matches_ema_generator(generators, ckpt_path, tmp_path):
    live, ema = generators
    pipe_ckpt = stylegan_t.load(ckpt_path, device="cpu")
    assert pipe_ckpt.info == {"kind": "training-checkpoint", "images_seen": 12_000, "ema": True}
    expected = images(ema)
    assert torch.equal(images(pipe_ckpt), expected)
    assert (images(live) - expected).abs().max() > 1e-3  # the EMA generator, not the live one
    out = export_generator(ckpt_path, tmp_path / "ema.safetensors")
    assert read_export_metadata(out)["source"]["images_seen"] == 12_000
    assert torch.equal(images(StyleGANTPipeline.from_pretrained(out, device="cpu")), expected)
    assert torch.equal(images(StyleGANTPipeline.from_pretrained(ckpt_path, device="cpu", ema=False)), images(live))


def test_shared_tensors_are_stored_once(generators, tmp_path):
    G = copy.deepcopy(generators[0])
    b8 = G.synthesis.b8
    b8.convs[1].noise_const = b8.convs[0].noise_const  # a tied buffer: safetensors refuses shared memory
    path = export_generator(G, tmp_path / "tied.safetensors")
    meta = read_export_metadata(path)
    assert meta["aliases"] == {"synthesis.b8.convs.1.noise_const": "synthesis.b8.convs.0.noise_const"}
    assert torch.equal(images(G), images(stylegan_t.load(path, device="cpu")))
    base = torch.arange(12.0)
    tensors, aliases = _dedupe_for_safetensors({"a": base[:6], "b": base[6:].view(2, 3), "c": base, "d": base})
    assert aliases == {"d": "c"} and torch.equal(tensors["b"], base[6:].view(2, 3))
    ptrs = {t.untyped_storage().data_ptr() for t in tensors.values()}
    assert len(ptrs) == len(tensors)


def test_half_precision_export(generators, tmp_path):
    path = export_generator(generators[0], tmp_path / "g16.safetensors", dtype=torch.float16)
    G2 = read_generator(path)
    assert next(G2.parameters()).dtype == torch.float32
    assert (images(G2) - images(generators[0])).abs().max() < 5e-2


def test_official_state_dicts_are_refused_with_a_hint(official_dir):
    # Conversion itself (and its fidelity to the fixture) is tested through the CLI in test_cli_generate.py.
    with pytest.raises(CheckpointLoadError, match="discriminator"):
        stylegan_t.load(official_dir / "official_D_heads_state_dict.pt", device="cpu")
    with pytest.raises(CheckpointLoadError, match="convert-official"):
        stylegan_t.load(official_dir / "official_G_state_dict.pt", device="cpu")


def _bad_files(tmp_path, generators):
    files = {}
    files["plain state dict"] = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(3), "bias": torch.zeros(3)}, files["plain state dict"])
    files["discriminator"] = tmp_path / "d.pt"
    torch.save({"heads.0.main.0.weight": torch.zeros(2), "heads.0.cls.weight": torch.zeros(2)}, files["discriminator"])
    files["Lightning checkpoint of another model"] = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"net.weight": torch.zeros(1)}, "hyper_parameters": {}}, files["Lightning checkpoint of another model"])
    files["without its config"] = tmp_path / "bare.pt"
    torch.save(generators[0].state_dict(), files["without its config"])
    files["unrecognized content"] = tmp_path / "notes.txt"
    files["unrecognized content"].write_text("not a checkpoint\n")
    files["damaged torch file"] = tmp_path / "truncated.ckpt"
    torch.save({"a": torch.zeros(1000)}, tmp_path / "full.ckpt")
    files["damaged torch file"].write_bytes((tmp_path / "full.ckpt").read_bytes()[:300])
    good = export_generator(generators[0], tmp_path / "good.safetensors")
    files["could not read"] = tmp_path / "cut.safetensors"
    files["could not read"].write_bytes(good.read_bytes()[:-1000])
    from safetensors.torch import save_file

    files["without stylegan_t generator metadata"] = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(files["without stylegan_t generator metadata"]))
    files["lacks config.json"] = tmp_path  # a folder that is not a pretrained folder
    return files


def test_bad_inputs_give_one_clear_error(generators, tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="not found") as err:
        stylegan_t.load(tmp_path / "missing.safetensors", device="cpu")
    assert isinstance(err.value, FileNotFoundError) and "give a .ckpt from `stylegan-t fit`" in str(err.value)
    for what, path in _bad_files(tmp_path, generators).items():
        with pytest.raises(CheckpointLoadError) as err:
            stylegan_t.load(path, device="cpu")
        message = str(err.value)
        assert what in message, (what, message)
        assert "stylegan-t" in message and str(path.name) in message, message  # names the command that writes a good file


def test_version_1_exports_with_every_tensor_still_read(generators, tmp_path):
    from safetensors.torch import save_file

    G = generators[0]
    path = tmp_path / "v1.safetensors"
    metadata = {"format": FORMAT, "format_version": "1", "generator_config": json.dumps(G.config.to_dict()),
                "aliases": "{}", "source": json.dumps({"kind": "module"})}
    save_file({k: v.contiguous() for k, v in G.state_dict().items()}, str(path), metadata=metadata)
    G2 = read_generator(path)
    assert torch.equal(images(G2), images(G))
    assert G2.text_encoder.by_reference  # its tower equals the file's: a re-export stores it by reference
    assert read_export_metadata(export_generator(G2, tmp_path / "v2.safetensors"))["frozen"]
